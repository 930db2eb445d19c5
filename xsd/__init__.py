"""The edXML schemas and WSDL shipped with docflow (source of truth: ``xsd/``)."""
