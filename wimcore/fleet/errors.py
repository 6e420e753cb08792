"""Typed errors of the fleet layer (catalog, library, runs), all under ``WimcoreError``."""

from __future__ import annotations

from wimcore.errors import WimcoreError


class FleetError(WimcoreError):
    """Base class of fleet errors."""


class CatalogError(FleetError):
    """The servicing catalog cannot be opened, read or written."""


class CatalogVersionError(CatalogError):
    """The catalog was written by a newer wimcore (its schema version is unknown here)."""


class NotRegisteredError(FleetError):
    """An image, update or run named on the command line is not in the catalog."""


class LibraryError(FleetError):
    """An input cannot go into the content library (not an update, failed verification...)."""


class RemoveSupersededRefusedError(FleetError):
    """Removing superseded components (cleanup /ResetBase + export) needs single-index WIMs."""


class WorkerAccessError(FleetError):
    """A Dask worker cannot read the library or write the outputs (no shared file system)."""


class ClusterError(FleetError):
    """The Dask cluster cannot run this job (unreachable scheduler, no worker with a resource)."""


class RunOptionsError(FleetError):
    """Run options that do not go together (a bundle option, a VM guest without the vm backend)."""


class InsecureSchedulerError(ClusterError):
    """A plain-TCP scheduler beyond loopback, refused before connecting: whoever reaches
    its port runs code as the workers' user (use TLS, or ``--insecure`` on purpose)."""
