"""Snapshots as JSON, for the agent (``perfdeck serve``) and the window that shows a remote host.

The window draws whatever fills its ``History``; a remote agent is one more source of the same
``Snapshot`` objects the local engine makes. This module is the one place that turns them into
JSON and back, so the agent and the window agree by construction.

The document ``GET /api/v1/snapshots`` returns (``FORMAT``):

```
{"format": "perfdeck-snapshots/1", "host": "db-7", "version": "0.2.0", "interval": 1.0,
 "seq": 1042,                     # the newest sequence number the agent holds
 "specs_generation": 3,           # bumps whenever the set of series or counters changes
 "specs": {...} or absent,        # only when the client's ?specs= differs from specs_generation
 "counter_specs": {...} or absent,
 "families": {"cpu": {"title": "CPU", "available": true}, "perf": {"title": ..., "available": false,
              "reason": "...", "fix": "..."}},
 "snapshots": [{"seq": 1041, "timestamp": ..., "monotonic": ..., "values": {id: float|null},
                "unavailable": {key: [reason, fix]}, "failures": {family: message},
                "totals": {id: float}}, ...],   # every snapshot after ?after=SEQ, oldest first
 "tables": {...}}                 # the newest tables only (the process list, source status)
```

Non-finite floats become ``null`` (JSON has no NaN), which is also what "no value" means. Table
rows that are dataclasses travel as ``{"__row__": "ProcessRow", "fields": [...], "rows": [[...]]}``
and come back as the same class when it is on the allow-list below (a remote peer never chooses
which Python class is built), otherwise as plain namespaces with the same attributes.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import types
from collections.abc import Iterable, Mapping
from typing import Any

from perfdeck.model.series import CounterSpec, Kind, SeriesSpec, Snapshot, Unavailable

FORMAT = "perfdeck-snapshots/1"

# Row classes a decoded table may be rebuilt as: name -> "module:Class". Anything else becomes a
# SimpleNamespace, so a remote document can never make us import or build an arbitrary class.
ROW_TYPES: dict[str, str] = {
    "ProcessRow": "perfdeck.collectors.processes:ProcessRow",
}


class WireFormatError(ValueError):
    """A document that is not a PerfDeck snapshot document, with what was wrong."""


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def spec_to_json(spec: SeriesSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {"label": spec.label, "unit": spec.unit}
    if spec.kind is not Kind.GAUGE:
        doc["kind"] = spec.kind.value
    if spec.group:
        doc["group"] = spec.group
    if spec.value_range is not None:
        doc["value_range"] = list(spec.value_range)
    if spec.metric:
        doc["metric"] = spec.metric
    if spec.labels:
        doc["labels"] = [list(pair) for pair in spec.labels]
    return doc


def spec_from_json(series_id: str, doc: Mapping[str, Any]) -> SeriesSpec:
    value_range = doc.get("value_range")
    return SeriesSpec(
        id=series_id,
        label=str(doc.get("label", series_id)),
        unit=str(doc.get("unit", "")),
        kind=Kind(doc.get("kind", Kind.GAUGE.value)),
        group=str(doc.get("group", "")),
        value_range=(float(value_range[0]), float(value_range[1])) if value_range else None,
        metric=str(doc.get("metric", "")),
        labels=tuple((str(k), str(v)) for k, v in doc.get("labels", ())),
    )


def specs_to_json(specs: Mapping[str, SeriesSpec]) -> dict[str, Any]:
    return {sid: spec_to_json(spec) for sid, spec in specs.items()}


def specs_from_json(doc: Mapping[str, Any]) -> dict[str, SeriesSpec]:
    return {sid: spec_from_json(sid, entry) for sid, entry in doc.items()}


def counter_specs_to_json(specs: Mapping[str, CounterSpec]) -> dict[str, Any]:
    return {cid: {"metric": c.metric, "unit": c.unit, "help": c.help, "labels": [list(p) for p in c.labels]}
            for cid, c in specs.items()}


def counter_specs_from_json(doc: Mapping[str, Any]) -> dict[str, CounterSpec]:
    return {cid: CounterSpec(cid, str(e["metric"]), str(e.get("unit", "")), str(e.get("help", "")),
                             tuple((str(k), str(v)) for k, v in e.get("labels", ())))
            for cid, e in doc.items()}


def _row_class(name: str) -> type | None:
    target = ROW_TYPES.get(name)
    if target is None:
        return None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def _plain(value: Any) -> Any:
    """A JSON-able copy of a table value: dataclass rows, tuples, sets and non-finite floats."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value and dataclasses.is_dataclass(value[0]):
        fields = [f.name for f in dataclasses.fields(value[0])]
        return {"__row__": type(value[0]).__name__, "fields": fields,
                "rows": [[_plain(getattr(row, name)) for name in fields] for row in value]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _unplain(value: Any) -> Any:
    if isinstance(value, Mapping):
        if "__row__" in value and "rows" in value:
            cls = _row_class(str(value["__row__"]))
            fields = [str(f) for f in value.get("fields", ())]
            known = {f.name for f in dataclasses.fields(cls)} if cls is not None else set()
            rows = []
            for raw in value["rows"]:
                data = {name: _tuples(item) for name, item in zip(fields, raw, strict=False)}
                if cls is not None and set(data) <= known:
                    rows.append(cls(**data))
                else:  # a newer agent with fields this version does not know: keep the attributes
                    rows.append(types.SimpleNamespace(**data))
            return tuple(rows)
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    return value


def tables_to_json(tables: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _plain(table) for name, table in tables.items()}


def tables_from_json(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _unplain(table) for name, table in doc.items()}


def snapshot_to_json(snapshot: Snapshot, seq: int) -> dict[str, Any]:
    """One tick, without specs and tables (they travel once per document, see ``FORMAT``)."""
    doc: dict[str, Any] = {
        "seq": seq,
        "timestamp": snapshot.timestamp,
        "monotonic": snapshot.monotonic,
        "values": {sid: _finite(v) for sid, v in snapshot.values.items()},
    }
    if snapshot.unavailable:
        doc["unavailable"] = {k: [u.reason, u.fix] for k, u in snapshot.unavailable.items()}
    if snapshot.failures:
        doc["failures"] = dict(snapshot.failures)
    if snapshot.totals:
        doc["totals"] = {cid: v for cid, v in snapshot.totals.items() if math.isfinite(v)}
    return doc


def snapshot_from_json(doc: Mapping[str, Any], specs: Mapping[str, SeriesSpec],
                       counter_specs: Mapping[str, CounterSpec] | None = None,
                       tables: Mapping[str, Any] | None = None) -> Snapshot:
    try:
        return Snapshot(
            timestamp=float(doc["timestamp"]),
            monotonic=float(doc["monotonic"]),
            values={str(k): _finite(v) for k, v in doc.get("values", {}).items()},
            specs=specs,
            unavailable={str(k): Unavailable(str(v[0]), str(v[1]) if len(v) > 1 else "")
                         for k, v in doc.get("unavailable", {}).items()},
            tables=tables or {},
            failures={str(k): str(v) for k, v in doc.get("failures", {}).items()},
            totals={str(k): float(v) for k, v in doc.get("totals", {}).items() if _finite(v) is not None},
            counter_specs=counter_specs or {},
        )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise WireFormatError(f"a snapshot in the document is malformed: {exc!r}") from exc


def encode_document(entries: Iterable[tuple[int, Snapshot]], *, host: str, version: str, interval: float,
                    specs_generation: int, include_specs: bool,
                    families: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The whole ``/api/v1/snapshots`` document for ``(seq, snapshot)`` pairs, oldest first."""
    entries = list(entries)
    doc: dict[str, Any] = {
        "format": FORMAT, "host": host, "version": version, "interval": interval,
        "seq": entries[-1][0] if entries else None,
        "specs_generation": specs_generation,
        "families": {name: dict(info) for name, info in families.items()},
        "snapshots": [snapshot_to_json(snap, seq) for seq, snap in entries],
    }
    if entries:
        newest = entries[-1][1]
        doc["tables"] = tables_to_json(newest.tables)
        if include_specs:
            doc["specs"] = specs_to_json(newest.specs)
            doc["counter_specs"] = counter_specs_to_json(newest.counter_specs)
    return doc


def decode_document(doc: Any, specs: Mapping[str, SeriesSpec],
                    counter_specs: Mapping[str, CounterSpec] | None = None
                    ) -> tuple[list[tuple[int, Snapshot]], dict[str, SeriesSpec], dict[str, CounterSpec]]:
    """``(seq, Snapshot)`` pairs from a document, with the specs to keep for the next one.

    ``specs`` are the ones the client holds; a document that carries specs replaces them. Only
    the newest snapshot gets the tables (the document carries only the newest).
    """
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, Mapping) else type(doc).__name__
        raise WireFormatError(f"not a PerfDeck agent document (format {found!r}, expected {FORMAT!r})")
    try:
        new_specs = specs_from_json(doc["specs"]) if "specs" in doc else dict(specs)
        new_counters = (counter_specs_from_json(doc["counter_specs"]) if "counter_specs" in doc
                        else dict(counter_specs or {}))
        tables = tables_from_json(doc.get("tables", {}))
        raw = list(doc.get("snapshots", []))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WireFormatError(f"the agent document is malformed: {exc!r}") from exc
    out = []
    for index, entry in enumerate(raw):
        newest = index == len(raw) - 1
        snapshot = snapshot_from_json(entry, new_specs, new_counters, tables if newest else None)
        out.append((int(entry["seq"]), snapshot))
    return out, new_specs, new_counters
