"""A fleet run: every selected image serviced with its plan, in parallel, on Dask distributed.

The client plans each image (nothing to do: no run, and it says so), records the run in
the catalog, starts or joins a Dask cluster, checks that every worker can read the
library and write the outputs, submits one task per image
(:func:`wimcore.fleet.task.service_image`) and records each result in the catalog as it
arrives: the client is the catalog's only writer.

- Default cluster: a ``LocalCluster`` of worker processes on this machine, one thread
  each; it declares the ``vm`` resource when the vm backend can run here.
- ``scheduler="tls://HOST:8786"`` joins a cluster started with ``dask scheduler`` and
  ``dask worker`` with TLS (``RunOptions.tls``: CA, client certificate and key; Dask's
  ``Security`` with encryption required); the workers must see the same paths (a shared
  file system). A plain ``tcp://`` scheduler beyond loopback is refused before any
  connection unless ``insecure`` (see :mod:`wimcore.fleet.security`).
- Tasks are submitted with ``retries``; a worker that dies loses nothing (see
  :mod:`wimcore.fleet.task`). Tasks of the vm backend ask for ``vm=1`` and ``MEMORY``
  (the guest's memory plus :data:`VM_OVERHEAD_MIB`); the backend's options travel to the
  workers as one :class:`~wimcore.servicing.backend.BackendOptions` value.
- Compression threads per task: the host's cores divided by the task slots on it.
- Cancel: ``fleet cancel RUN`` sets a flag in the catalog; the client sets the run's
  Dask ``Event``; queued tasks then end at once and running ones at their next progress
  point, each WIM unchanged or fully serviced, and the catalog says which.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wimcore import interrupts, ledger, stagehook
from wimcore.errors import Cancelled
from wimcore.fleet.catalog import (
    IMAGE_CANCELLED,
    IMAGE_NEVER_STARTED,
    IMAGE_OK_STATES,
    IMAGE_STOPPED_STATES,
    IMAGE_UNSERVICED_STATES,
    Catalog,
)
from wimcore.fleet.errors import (
    ClusterError,
    RemoveSupersededRefusedError,
    RunOptionsError,
    WorkerAccessError,
)
from wimcore.fleet.planning import ImagePlan, plan_images
from wimcore.fleet.security import TlsFiles, check_scheduler, client_security
from wimcore.fleet.task import ImageTask, check_access, service_image
from wimcore.servicing.backend import BackendOptions

if TYPE_CHECKING:
    from wimcore.servicing.vm.qemu import KernelBoot

#: Memory a VM task asks of its worker beyond the guest's own (QEMU, wimcore).
VM_OVERHEAD_MIB = 1024


@dataclass
class RunOptions:
    """How to run: where, with what backend, on which images."""

    scheduler: str | None = None  # tls://HOST:PORT; None: a LocalCluster here
    tls: TlsFiles = field(default_factory=TlsFiles)  # CA, client cert and key (tls://)
    insecure: bool = False  # allow a plain tcp:// scheduler beyond loopback (on purpose)
    workers: int | None = None  # LocalCluster worker processes (default: min(images, cores))
    backend: str = "staged"  # auto | staged | vm
    continue_on_error: bool = False
    remove_superseded: bool = False
    scratch: str | None = None  # where tasks expand packages (every worker: same path)
    images: Sequence[str] = ()
    arch: str | None = None
    text: str | None = None
    retries: int = 2
    memory_limit: str | None = None  # per LocalCluster worker ("4GiB"); None: Dask's default
    threads: int | None = None  # compression threads per task; None: cores / task slots
    #: The backend's options, sent as they are to every task (vm: WinPE, guest memory,
    #: CPUs, timeout, accelerator; ``memory_mib`` also sizes the tasks' MEMORY resource).
    backend_options: BackendOptions = field(default_factory=BackendOptions)
    #: vm backend only: boot this kernel instead of the WinPE ISO (``VmBackend(guest=)``).
    #: It exists for the test suite's stand-in guest, which speaks the guest protocol;
    #: the command line never offers it. Every worker must read its files.
    vm_guest: KernelBoot | None = None
    poll_seconds: float = 0.2
    skip_verify: bool = False  # use library packages without checking them again (loud)


@dataclass
class FleetRunResult:
    """What a run did: its id (None when there was nothing to do), state and records."""

    run_id: str | None
    status: str  # nothing-to-do | successful | incomplete | failed | cancelled
    images: list[dict[str, Any]] = field(default_factory=list)
    plans: list[ImagePlan] = field(default_factory=list)
    dashboard: str | None = None
    scheduler: str | None = None
    workers: list[str] = field(default_factory=list)
    note: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"run_id": self.run_id, "status": self.status, "note": self.note,
                "seconds": round(self.seconds, 3), "scheduler": self.scheduler,
                "dashboard": self.dashboard, "workers": self.workers, "images": self.images}


Listener = Callable[[str, dict[str, Any]], None]


def _new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


def _check_single_index(plans: list[ImagePlan]) -> None:
    import wimcore

    multi = []
    for p in plans:
        with wimcore.open(p.image["wim_path"]) as wim:
            if wim.info.image_count != 1:
                multi.append(f"{p.image['name']} ({p.image['wim_path']}: "
                             f"{wim.info.image_count} images)")
    if multi:
        raise RemoveSupersededRefusedError(
            "removing superseded updates (cleanup /ResetBase + export) is for single-index "
            "WIMs only; refused for " + ", ".join(multi) + " (register the image with "
            "'wimcore fleet add WIM --index N' to service a single-index copy)")


def _vm_usable(options: BackendOptions) -> bool:
    from wimcore.servicing.vm.backend import vm_usable

    return vm_usable(options) is None


def _check_options(options: RunOptions) -> None:
    """Refuse options a fleet run cannot honour (before anything is recorded)."""
    opts = options.backend_options
    if opts.prepare_only or opts.resume:
        raise RunOptionsError(
            "a fleet run installs: --prepare-only and --resume are for one WIM "
            "('wimcore package install')")
    if options.vm_guest is not None and options.backend != "vm":
        raise RunOptionsError(f"a VM guest was given, but the backend is {options.backend!r} "
                              "(it is for the vm backend only)")
    if options.scheduler:
        check_scheduler(options.scheduler, options.tls, options.insecure)
    elif options.tls.given():
        raise RunOptionsError("TLS files are for a remote scheduler (--scheduler "
                              "tls://HOST:PORT); the local cluster listens on 127.0.0.1 only")


def _option_record(options: RunOptions) -> dict[str, Any]:
    """The backend options that differ from the defaults, for the run's catalog row."""
    defaults = BackendOptions().to_dict()
    record = {k: v for k, v in options.backend_options.to_dict().items() if v != defaults[k]}
    if options.vm_guest is not None:
        record["vm_guest"] = f"kernel {options.vm_guest.kernel}"
    return record


def _vm_inputs(options: RunOptions) -> set[str]:
    """Files of the vm backend that every VM worker must read (WinPE, guest kernel)."""
    found: set[str] = set()
    if options.backend_options.winpe:
        from wimcore.servicing.vm.winpe import parse_winpe

        found.add(str(parse_winpe(options.backend_options.winpe).path))
    if options.backend_options.media_root:
        found.add(options.backend_options.media_root)
    if options.vm_guest is not None:
        found |= {str(options.vm_guest.kernel), str(options.vm_guest.initrd)}
    return found


def _start_client(options: RunOptions, n_tasks: int, vm: bool) -> Any:
    """A Dask client: of the given scheduler, or of a new LocalCluster of processes."""
    from distributed import Client, LocalCluster

    if options.scheduler:
        secure: dict[str, Any] = {}
        if options.scheduler.lower().startswith(("tls://", "wss://")):
            secure["security"] = client_security(options.tls)
        try:
            return Client(options.scheduler, timeout="20s", **secure)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler {options.scheduler}: {exc}"
                               ) from None
    n = options.workers or max(1, min(n_tasks, os.cpu_count() or 1))
    resources: dict[str, float] = {}
    if vm:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        resources = {"vm": 1, "MEMORY": float(memory)}
    try:
        import bokeh  # noqa: F401

        dashboard: str | None = "127.0.0.1:0"
    except ImportError:
        dashboard = None
    kwargs: dict[str, Any] = {"resources": resources} if resources else {}
    if options.memory_limit:
        kwargs["memory_limit"] = options.memory_limit
    from wimcore.fleet.quiet import QuietNanny

    cluster: Any = None
    try:
        # Started whole, or not at all: a Ctrl-C now waits for the cluster to be up, then
        # closes it (a half-started cluster would leak processes and print tracebacks).
        with interrupts.deferred():
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=dashboard,
                                   worker_class=QuietNanny, silence_logs=logging.ERROR,
                                   **kwargs)
            return Client(cluster)
    except BaseException:
        if cluster is not None:
            _close_quietly(cluster)
        raise


def _close_quietly(closable: Any) -> None:
    """Close a client or cluster; what Dask says while it shuts down is not the user's news."""
    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with interrupts.deferred():
            closable.close()
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _close_client(client: Any, own_cluster: bool) -> None:
    cluster = client.cluster if own_cluster else None
    _close_quietly(client)
    if cluster is not None:
        _close_quietly(cluster)


def _threads_per_task(client: Any) -> dict[str, int]:
    """Per worker: the host's cores divided by all task slots on that host (at least 1)."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    cores = client.run(os.cpu_count)
    slots: dict[str, int] = {}
    for info in workers.values():
        slots[info["host"]] = slots.get(info["host"], 0) + int(info["nthreads"])
    return {addr: max(1, int(cores.get(addr) or 1) // max(1, slots[info["host"]]))
            for addr, info in workers.items()}


def _preflight(client: Any, plans: list[ImagePlan], outputs: Path, scratch: str | None,
               vm: bool, vm_memory: float, vm_files: set[str]) -> list[str]:
    """Every worker can read the packages, WIMs (and the vm backend's boot files) and
    write the outputs; some worker declares VM capacity."""
    read = sorted({f for p in plans for f in p.files} | {p.image["wim_path"] for p in plans}
                  | (vm_files if vm else set()))
    write = sorted({str(Path(p.image["wim_path"]).parent) for p in plans} | {str(outputs)}
                   | ({scratch} if scratch else set()))
    answers: dict[str, list[str]] = client.run(check_access, read, write)
    if not answers:
        raise ClusterError("the Dask cluster has no workers")
    bad = [f"{worker}: {problem}" for worker, problems in sorted(answers.items())
           for problem in problems]
    if bad:
        raise WorkerAccessError(
            "every worker must read the library and write the outputs at the same paths "
            "(a shared file system): " + "; ".join(bad[:8])
            + (f" (and {len(bad) - 8} more)" if len(bad) > 8 else ""))
    if vm:
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        able = [w for w in workers if w.get("resources", {}).get("vm", 0) >= 1
                and w.get("resources", {}).get("MEMORY", 0) >= vm_memory]
        if not able:
            raise ClusterError(
                f"no worker declares VM capacity (start one with --resources "
                f"\"vm=1 MEMORY={int(vm_memory)}\" on a host with KVM)")
    return sorted(answers)


def run_fleet(catalog: Catalog, options: RunOptions,
              listener: Listener | None = None) -> FleetRunResult:
    """Service every selected image with its plan, in parallel; see the module docstring.

    ``listener(event, data)`` hears ``planned``, ``started`` (run id, dashboard, workers)
    and ``result`` (one image's record, with ``done`` and ``total``) as they happen.
    """
    t0 = time.monotonic()
    tell = listener or (lambda _e, _d: None)
    _check_options(options)
    catalog.reconcile()
    images = catalog.select_images(list(options.images))
    plans = plan_images(catalog, images, arch=options.arch, text=options.text,
                        skip_verify=options.skip_verify)
    if options.remove_superseded:
        _check_single_index(plans)
    todo = [p for p in plans if p.files and (p.apply or p.broken)]
    tell("planned", {"plans": [p.to_dict() for p in plans], "todo": len(todo)})
    if not todo:
        errors = [p for p in plans if p.error]
        note = ("nothing to do: every selected image already has every applicable update "
                "of the library" if not errors else
                "nothing to do; could not plan: " + "; ".join(
                    f"{p.image['name']}: {p.error}" for p in errors))
        return FleetRunResult(None, "nothing-to-do", plans=plans, note=note,
                              seconds=time.monotonic() - t0)
    backend = options.backend
    vm = backend == "vm" or (backend == "auto" and _vm_usable(options.backend_options))
    run_id = _new_run_id()
    outputs = catalog.library_dir() / "runs" / run_id
    catalog.create_run(run_id, backend=backend, scheduler=options.scheduler,
                       options={"continue_on_error": options.continue_on_error,
                                "remove_superseded": options.remove_superseded,
                                "scratch": options.scratch, "arch": options.arch,
                                "filter": options.text, "workers": options.workers,
                                "skip_verify": options.skip_verify,
                                "outputs": str(outputs), **_option_record(options),
                                **({"insecure": True} if options.insecure else {}),
                                **({"tls_cert": options.tls.cert} if options.tls.cert
                                   else {})},
                       image_ids=[p.image["id"] for p in todo])
    result = FleetRunResult(run_id, "failed", plans=plans, scheduler=options.scheduler)
    for p in todo:
        ledger.note_planned(_image_label(p.image))
    try:
        _execute(catalog, options, todo, run_id, outputs, vm, result, tell)
    except BaseException as exc:
        with interrupts.deferred():  # the run's row is closed whatever arrives now
            catalog.finish_run(run_id, *_ended_by(exc, result.images))
        raise
    result.seconds = time.monotonic() - t0
    return result


def _execute(catalog: Catalog, options: RunOptions, todo: list[ImagePlan], run_id: str,
             outputs: Path, vm: bool, result: FleetRunResult, tell: Listener) -> None:
    from distributed import Event, wait

    vm_memory = float((options.backend_options.memory_mib + VM_OVERHEAD_MIB) * 2**20)
    stagehook.stage("fleet-cluster")
    client = _start_client(options, len(todo), vm)
    own_cluster = options.scheduler is None
    futures: list[tuple[Any, ImageTask]] = []
    by_key: dict[str, ImageTask] = {}
    remaining: list[Any] = []
    names = {p.image["id"]: p.image for p in todo}
    try:
        outputs.mkdir(parents=True, exist_ok=True)
        result.workers = _preflight(client, todo, outputs, options.scratch, vm, vm_memory,
                                    _vm_inputs(options))
        if own_cluster:
            result.scheduler = client.scheduler.address
        services = client.scheduler_info().get("services", {})
        result.dashboard = client.dashboard_link if "dashboard" in services else None
        tell("started", {"run_id": run_id, "dashboard": result.dashboard,
                         "workers": result.workers, "total": len(todo)})
        cancel = Event(f"wimcore-cancel-{run_id}", client=client)
        threads = _threads_per_task(client)
        common = options.threads or (min(threads.values()) if threads else 1)
        resources = {"vm": 1, "MEMORY": vm_memory} if vm else None
        last_on_wim: dict[str, Any] = {}
        for p in todo:
            task = ImageTask(run_id=run_id, image_id=p.image["id"],
                             wim_path=p.image["wim_path"], wim_index=p.image["wim_index"],
                             packages=tuple(p.files), outputs=str(outputs),
                             backend=options.backend, options=options.backend_options,
                             vm_guest=options.vm_guest,
                             continue_on_error=options.continue_on_error,
                             remove_superseded=options.remove_superseded,
                             scratch=options.scratch, threads=common, cancel=cancel.name,
                             skip_verify=options.skip_verify)
            # Images of one WIM file run one after the other (one writer per WIM).
            before = last_on_wim.get(task.wim_path)
            fut = client.submit(service_image, task, None, before,
                                key=f"wimcore-{run_id}-image-{task.image_id}", pure=False,
                                retries=options.retries, resources=resources)
            last_on_wim[task.wim_path] = fut
            futures.append((fut, task))
            by_key[fut.key] = task
            remaining.append(fut)
        stagehook.stage("fleet-submitted")
        cancelling = False
        while remaining:
            if not cancelling and catalog.cancel_requested(run_id):
                cancel.set()
                cancelling = True
                tell("cancelling", {"run_id": run_id})
            try:  # wake up at the first result, or to look at the cancel flag again
                wait(remaining, timeout=options.poll_seconds, return_when="FIRST_COMPLETED")
            except TimeoutError:
                continue
            for fut in [f for f in remaining if f.done()]:
                _take(catalog, run_id, result, fut, by_key[fut.key], names, tell, len(todo),
                      remaining)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: ask the tasks to stop at their next safe point, then record
        # what each one became (catalog and ledger), so the message and the catalog say
        # exactly which images changed.
        if futures:
            Event(f"wimcore-cancel-{run_id}", client=client).set()
            tell("cancelling", {"run_id": run_id})
            _drain(catalog, run_id, result, remaining, by_key, names, tell, len(todo))
        raise
    finally:
        _close_client(client, own_cluster)
    result.status, result.note = run_state(result.images, catalog.cancel_requested(run_id),
                                           options.skip_verify)
    catalog.finish_run(run_id, result.status, result.note)


def _ended_by(exc: BaseException, records: list[dict[str, Any]]) -> tuple[str, str]:
    """The state and note of a run that an exception ended (its images without a result
    become ``cancelled`` or ``never-started`` in :meth:`Catalog.finish_run`)."""
    what = f"{type(exc).__name__}: {exc}".splitlines()[0]
    if isinstance(exc, (KeyboardInterrupt, Cancelled)):
        return "cancelled", "interrupted" + (f"; {_counts(records)}" if records else "")
    if isinstance(exc, ClusterError) and not records:
        return "failed", f"scheduler unreachable or unusable ({what}); no image was started"
    return "failed", what + (f"; {_counts(records)}" if records else "")


def _counts(records: list[dict[str, Any]], total: int | None = None) -> str:
    """``N image(s): X changed, Y failed, ...``: each image counted as what it became."""
    def n(states: frozenset[str] | set[str]) -> int:
        return sum(1 for r in records if r["status"] in states)

    known = IMAGE_OK_STATES | IMAGE_UNSERVICED_STATES | IMAGE_STOPPED_STATES
    parts = [f"{sum(1 for r in records if r.get('wim_changed'))} changed",
             f"{sum(1 for r in records if r['status'] not in known)} failed"]
    for label, states in (("cancelled (unchanged)", {IMAGE_CANCELLED}),
                          ("never started (unchanged)", {IMAGE_NEVER_STARTED})):
        if n(states):
            parts.append(f"{n(states)} {label}")
    parts.append(f"{n(IMAGE_UNSERVICED_STATES)} not serviced")
    return f"{total if total is not None else len(records)} image(s): " + ", ".join(parts)


#: Seconds a stopped run waits for its running tasks to reach a safe point and answer.
DRAIN_SECONDS = 120.0


def _image_label(image: dict[str, Any]) -> str:
    """How the change ledger names an image of the run."""
    return f"image {image['id']} ({image['wim_path']}:{image['wim_index']})"


def _take(catalog: Catalog, run_id: str, result: FleetRunResult, fut: Any, task: ImageTask,
          names: dict[int, dict[str, Any]], tell: Listener, total: int,
          remaining: list[Any]) -> None:
    """Record one finished task: catalog row, run result and ledger, and take it off the
    waiting list, all or none (a stop in between would lose what the image became)."""
    record = _record_of(fut, task)
    with interrupts.deferred():
        catalog.record_result(run_id, record)
        result.images.append(record)
        remaining.remove(fut)
        if record.get("wim_changed"):
            ledger.note_changed(_image_label(names[task.image_id]), how=str(record["status"]))
    tell("result", {**record, "done": len(result.images), "total": total})
    stagehook.stage("fleet-result")


def _drain(catalog: Catalog, run_id: str, result: FleetRunResult, remaining: list[Any],
           by_key: dict[str, ImageTask], names: dict[int, dict[str, Any]], tell: Listener,
           total: int) -> None:
    """After a stop: wait (bounded) for the running tasks to stop at a safe point and
    record each; a task that does not answer is recorded from its record file, or its
    image's fate is said to be unknown."""
    from distributed import wait

    from wimcore.fleet.task import record_path

    try:
        wait(remaining, timeout=DRAIN_SECONDS)
    except (TimeoutError, KeyboardInterrupt):
        pass
    for fut in list(remaining):
        task = by_key[fut.key]
        if fut.done():
            _take(catalog, run_id, result, fut, task, names, tell, total, remaining)
            continue
        try:
            record = json.loads(record_path(task).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            ledger.note_fate_unknown(_image_label(names[task.image_id]))
            continue
        with interrupts.deferred():
            catalog.record_result(run_id, record)
            result.images.append(record)
            remaining.remove(fut)
            if record.get("wim_changed"):
                ledger.note_changed(_image_label(names[task.image_id]),
                                    how=str(record["status"]))


def run_state(records: list[dict[str, Any]], cancelled: bool,
              skip_verify: bool = False) -> tuple[str, str]:
    """A run's state and note from its images' records: never ``successful`` unless every
    image reached its plan; ``incomplete`` when none failed but some were not serviced.
    Cancelled and never-started images count as such, never as failed or changed."""
    unserviced = [r for r in records if r["status"] in IMAGE_UNSERVICED_STATES]
    stopped = [r for r in records if r["status"] in IMAGE_STOPPED_STATES]
    failed = [r for r in records if r["status"] not in IMAGE_OK_STATES
              and r["status"] not in IMAGE_UNSERVICED_STATES
              and r["status"] not in IMAGE_STOPPED_STATES]
    if cancelled:
        state = "cancelled"
    elif failed:
        state = "failed"
    elif unserviced or stopped:
        state = "incomplete"
    else:
        state = "successful"
    note = _counts(records)
    if skip_verify:
        note += "; packages used WITHOUT verification (--skip-verify)"
    return state, note


def _record_of(fut: Any, task: ImageTask) -> dict[str, Any]:
    """The task's record, or a failed record when the task itself raised."""
    try:
        record: dict[str, Any] = fut.result()
        return record
    except Exception as exc:  # any error of the task becomes the image's record
        from wimcore.fleet.task import record_path

        done = record_path(task)
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {"run_id": task.run_id, "image_id": task.image_id, "status": "failed",
                "wim_changed": None, "packages": [], "worker": None,
                "error": f"{type(exc).__name__}: {text}", "report_path": None,
                "log_path": None,
                "note": "the task did not finish (its record "
                        + ("exists" if done.exists() else "is absent") + ")"}
