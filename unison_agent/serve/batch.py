"""Batch generation on Ray: one request per JSONL line, run by actors that each build a :class:`Session` once.

A line is ``{"request": str, "files": [paths], "overrides": {...}, "seed": int, "id": str}`` (only ``request`` is
required; relative file paths are read from the JSONL's folder). Each line gets a key (its ``id``, else its line
number) and, when it finishes, a sidecar ``OUT/items/<key>.json`` with its result; a rerun skips the lines whose
sidecar says they succeeded, so an interrupted or partly failed batch resumes where it stopped. Outputs go to
``OUT/outputs/<key>/``; ``OUT/results.jsonl`` holds every line's result in input order. ``<key>`` is the id made a
safe file name (:func:`unison_agent.core.boundary.safe_name`): an id such as ``../../x`` stays inside ``OUT``; an id
with a NUL byte, bad overrides or a bad seed fail their own line, never the batch.

Ray: without ``address`` it starts Ray on this machine (``workers`` CPUs); with ``address`` (``ray://host:10001``
or ``auto``) it joins an existing cluster, whose nodes must see the same paths (shared storage) and have the
package installed. Each worker holds ``gpus_per_worker`` GPUs and keeps its models loaded for all its lines.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from unison_agent.contract.errors import UnisonError, log_internal_error
from unison_agent.contract.settings import Settings, check_overrides
from unison_agent.core.boundary import check_file_name, safe_name, within


@dataclass
class BatchItem:
    """One line of the input."""

    line: int
    key: str
    request: str = ""
    files: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    error: str | None = None
    """Why the line itself is unusable (bad JSON, no request): it fails without reaching a worker."""

    def text(self) -> str:
        """The request with the files attached as ``###path###`` mentions (as the LangChain tool does)."""
        return self.request + "".join(f" ###{f}###" for f in self.files)


def read_items(path: Path) -> list[BatchItem]:
    """The lines of a JSONL file as items; blank lines are skipped, a bad line becomes an item with ``error``."""
    path = Path(path)
    if not path.is_file():
        raise UnisonError(f"{path}: no such file (expected one JSON request per line)")
    items: list[BatchItem] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        key = f"line-{n:05d}"
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or not str(data.get("request") or "").strip():
                raise ValueError('each line must be a JSON object with a non-empty "request"')
            given = data.get("id")
            if given is not None and given != "":
                safe_name(str(given), "batch id")  # a NUL byte, an empty id: this line's failure, found up front
                key = str(given)
            files = data.get("files") or []
            if not isinstance(files, list):
                raise ValueError('"files" must be a list of paths')
            files = [str((path.parent / check_file_name(f, "file")).resolve()) for f in files]
            overrides = data.get("overrides") or {}
            if not isinstance(overrides, dict):
                raise ValueError('"overrides" must be an object, e.g. {"width": 480}')
            seed = data.get("seed")
            checked = check_overrides({**overrides, **({"seed": seed} if seed is not None else {})})
            seed = checked.pop("seed", None) if seed is not None else None
            items.append(BatchItem(n, key, str(data["request"]), files, checked, seed))
        except json.JSONDecodeError as exc:  # the message is the line's own; the line number is in the record
            items.append(BatchItem(n, key, error=f"not valid JSON ({exc.msg} at column {exc.colno})"))
        except (ValueError, TypeError, UnisonError) as exc:
            items.append(BatchItem(n, key, error=str(exc)))
    keys = [i.key for i in items]
    if len(set(keys)) != len(keys):
        raise UnisonError(f"{path}: duplicate ids {sorted({k for k in keys if keys.count(k) > 1})}")
    return items


def sidecar(out: Path, key: str) -> Path:
    """``OUT/items/<safe key>.json``: inside ``OUT/items`` whatever the line's id is (``../../x``, ``/etc/x``)."""
    return within(Path(out) / "items", key, "batch id", ".json")


def done_before(out: Path, item: BatchItem) -> dict[str, Any] | None:
    """The stored result of a line that already succeeded (same request), else None."""
    path = sidecar(out, item.key)
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return stored if stored.get("ok") and stored.get("request") == item.request else None


class Worker:
    """Runs lines on one :class:`Session` (built once: its models stay loaded); each line on its own thread."""

    def __init__(self, settings: Settings, out: str, index: int, threads: int = 1, tools: Any = None) -> None:
        import torch

        from unison_agent.core.session import Session

        torch.set_num_threads(max(1, threads))
        out_path = Path(out)
        self.out = out_path
        self.name = f"worker-{index}"
        settings = settings.replace(
            outputs_dir=out_path / "outputs", threads_db=out_path / "threads" / f"{self.name}.sqlite"
        )
        self.session = Session(settings, thread="batch", confirm=False, tools=tools)  # tools: tests script them

    def ready(self) -> str:
        return self.name

    def run(self, item: BatchItem) -> dict[str, Any]:
        start = time.perf_counter()
        record: dict[str, Any] = {"line": item.line, "id": item.key, "request": item.request, "worker": self.name}
        overrides = dict(item.overrides) | ({"seed": item.seed} if item.seed is not None else {})
        try:
            self.session.switch(item.key)
            result = self.session.send(item.text(), overrides=overrides)
            record.update(
                ok=result.ok,
                task=result.task,
                answer=result.answer,
                outputs=result.outputs,
                errors=result.errors,
                seeds=[r.get("seed") for r in result.results if "seed" in r],
            )
        except UnisonError as exc:
            record.update(ok=False, task=None, answer="", outputs=[], errors=[{"error": str(exc)}])
        except Exception as exc:  # a bug on one line must not end the batch: record it (the traceback in the
            log = log_internal_error(self.session.settings, exc)  # error log), go on with the next
            record.update(
                ok=False,
                task=None,
                answer="",
                outputs=[],
                errors=[{"error": f"internal error: {type(exc).__name__}: {exc} (logged to {log})", "internal": True}],
            )
        record["seconds"] = round(time.perf_counter() - start, 3)
        write_record(self.out, record)
        return record


def write_record(out: Path, record: dict[str, Any]) -> None:
    path = sidecar(out, record["id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)  # a sidecar is whole or absent, even if the batch is killed


@dataclass
class Summary:
    total: int
    done: int
    failed: int
    skipped: int
    seconds: float
    results: Path
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def per_item(self) -> float:
        ran = self.done + self.failed - self.skipped
        return self.seconds / ran if ran > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["results"] = str(self.results)
        data["seconds_per_item"] = round(self.per_item, 3)
        return data


def run_batch(
    path: Path,
    out: Path,
    settings: Settings,
    *,
    workers: int = 1,
    gpus_per_worker: float = 0,
    cpus_per_worker: int = 1,
    address: str | None = None,
    progress: bool = True,
) -> Summary:
    """Run every line not yet done on ``workers`` Ray actors; write sidecars and ``OUT/results.jsonl``."""
    import ray
    from ray.util import ActorPool
    from tqdm import tqdm

    out = Path(out).resolve()
    items = read_items(path)
    previous = {i.key: r for i in items if (r := done_before(out, i)) is not None}
    todo = [i for i in items if i.key not in previous and i.error is None]
    bad_lines = [i for i in items if i.error is not None]
    for bad in bad_lines:
        write_record(
            out,
            {
                "line": bad.line,
                "id": bad.key,
                "request": bad.request,
                "ok": False,
                "task": None,
                "answer": "",
                "outputs": [],
                "errors": [{"error": bad.error}],
                "seconds": 0.0,
            },
        )
    start = time.perf_counter()
    # the bar counts every line this run answers: the unusable ones (failed at once) and the ones the workers run
    bar = tqdm(total=len(todo) + len(bad_lines), desc="batch", unit="item", disable=not progress)
    failed = 0

    def count(record: dict[str, Any]) -> None:
        nonlocal failed
        failed += not record["ok"]
        bar.set_postfix(failed=failed, refresh=False)
        bar.update(1)
        if not record["ok"]:
            bar.write(f"failed: line {record['line']}: {record['errors'][0]['error']}", file=sys.stderr)

    for bad in bad_lines:
        count({"line": bad.line, "ok": False, "errors": [{"error": bad.error}]})
    if todo:
        started = not ray.is_initialized()
        if started:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=max(1, workers) * cpus_per_worker, include_dashboard=False, log_to_driver=False)
        try:
            remote = ray.remote(Worker).options(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker)
            n = max(1, min(workers, len(todo)))
            actors = [remote.remote(settings, str(out), k, cpus_per_worker) for k in range(n)]
            try:
                ray.get([a.ready.remote() for a in actors])
            except ray.exceptions.RayActorError as exc:
                raise UnisonError(f"a batch worker could not start (building its Session failed): {exc}") from None
            pool = ActorPool(actors)
            for record in pool.map_unordered(lambda a, item: a.run.remote(item), todo):
                count(record)
        finally:
            if started:
                ray.shutdown()
    bar.close()
    seconds = time.perf_counter() - start
    return _collect(items, out, len(previous), seconds)


def _collect(items: list[BatchItem], out: Path, skipped: int, seconds: float) -> Summary:
    """results.jsonl in input order, from the sidecars."""
    results = out / "results.jsonl"
    records = []
    for item in items:
        path = sidecar(out, item.key)
        records.append(
            json.loads(path.read_text(encoding="utf-8"))
            if path.is_file()
            else {"line": item.line, "id": item.key, "ok": False, "errors": [{"error": "not run"}]}
        )
    results.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records), "utf-8")
    failures = [r for r in records if not r.get("ok")]
    return Summary(
        total=len(records),
        done=len(records) - len(failures),
        failed=len(failures),
        skipped=skipped,
        seconds=round(seconds, 3),
        results=results,
        failures=failures,
    )
