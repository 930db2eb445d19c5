"""``docflow register in|out``: the văn thư registers of Nghị định 30/2020 (Phụ lục VI):
arrivals (sổ đến) and sent documents (sổ đi) of a year, as JSON, CSV or an Excel
workbook."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click

from docflow.cli._app import cli, home_option, opened
from docflow.cli._output import emit, say

#: the register's columns as the decree's input-data standard names them, and the key
#: of each in the JSON rows
COLUMNS = {
    "in": [("Số đến", "number"), ("Ngày đến", "registered_at"), ("Tác giả", "organ"),
           ("Số, ký hiệu", "code"), ("Ngày tháng văn bản", "date"),
           ("Tên loại và trích yếu nội dung", "subject"),
           ("Mã định danh văn bản", "document_id")],
    "out": [("Số", "number"), ("Ngày tháng văn bản", "date"), ("Số, ký hiệu", "code"),
            ("Tên loại và trích yếu nội dung", "subject"), ("Nơi nhận", "organ"),
            ("Mã định danh văn bản", "document_id"), ("Ngày đăng ký", "registered_at")],
}


@cli.command("register")
@click.argument("book", type=click.Choice(["in", "out"]))
@home_option
@click.option("--year", type=click.IntRange(1990, 2100), required=True,
              help="The register's year.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "xlsx"]), default="json",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write it here (required for xlsx; default: standard output).")
def register(book: str, home: Path, year: int, fmt: str, output: Path | None) -> None:
    """Export a register: BOOK "in" (arrivals, by arrival number) or "out" (sent
    documents, by their number in the outgoing register)."""
    if fmt == "xlsx" and output is None:
        raise click.BadParameter("an Excel workbook goes to a file", param_hint="--output")
    with opened(home, signing=False) as node:
        rows: list[dict[str, Any]] = []
        for entry in node.store.queries.register(node.code, book, year):
            document = entry.document
            other = document.sender if book == "in" else ", ".join(
                d.recipient for d in node.store.queries.deliveries(
                    document_ref=document.id, kind="document", page_size=1000).items)
            rows.append({
                "number": entry.number, "document_id": document.document_id,
                "code": document.code, "date": document.promulgation_date.isoformat(),
                "subject": f"{document.type_name}: {document.subject}", "organ": other,
                "registered_at": entry.registered_at.astimezone(node.zone).isoformat(),
                "document": document.id})
    if fmt == "json":
        text = json.dumps(rows, ensure_ascii=False, indent=2)
        if output is None:
            emit(rows, True, lambda: None)
            return
        output.write_text(text + "\n", encoding="utf-8")
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([title for title, _ in COLUMNS[book]])
        writer.writerows([[row[key] for _, key in COLUMNS[book]] for row in rows])
        if output is None:
            click.echo(buffer.getvalue(), nl=False)
            return
        output.write_text(buffer.getvalue(), encoding="utf-8-sig")  # Excel reads the BOM
    else:
        from openpyxl import Workbook

        book_xlsx = Workbook(write_only=True)
        sheet = book_xlsx.create_sheet(f"So {'den' if book == 'in' else 'di'} {year}")
        sheet.append([title for title, _ in COLUMNS[book]])
        for row in rows:
            sheet.append([row[key] for _, key in COLUMNS[book]])
        book_xlsx.save(str(output))
    say(f"wrote the {'arrivals' if book == 'in' else 'outgoing'} register of {year}: "
        f"{len(rows)} line(s) to {output}")
