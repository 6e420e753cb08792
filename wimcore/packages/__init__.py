"""Package layer: read Windows update packages (CAB, MSU, WIM container, express), their
manifests and catalogs. Applying them to images is `wimcore.servicing`."""
