"""The options of one harness run: parsed from flags, checked early, recorded in run.json.

A run is a pure function of its options and seed in simulated mode, and as close to one as real
time allows otherwise, so ``RunOptions`` is plain data: ``to_json`` goes into run.json and
``from_json`` gives a replay exactly the same run back.
"""

from __future__ import annotations

import difflib
import math
import random
from typing import Any

import attrs

from minikeydb.config import ConfigError, parse_config
from minikeydb.node import BUGS
from nemesis import CRASH_TARGETS, FAULT_KINDS, PARTITION_KINDS

MODES = ("udp", "processes", "sim")
MAX_KEY_BYTES = 1024
MAX_NODES = 200
MAX_VALUE_BYTES = 32 * 1024
"""The store's limits (``minikeydb.wire``), as encoded: the harness's filler is ASCII, one byte a character."""
RATE_MAX = math.inf
"""``--rate max``: closed-loop clients, each starting its next operation when the last one answered."""
KEY_DISTS = ("uniform", "zipf")
NEMESIS_CHOICES = ("none", *FAULT_KINDS, "all")
CHECKERS = ("convergence", "linearizable")
CONFLICTS = ("lww", "siblings", "crdt")
"""``--conflict``: how the store resolves concurrent writes (the cluster TOML's ``conflict``)."""
WORKLOADS = ("register", "set", "counter")
"""``--workload``: put/get/delete of registers, add/remove/read of OR-sets, incr/decr/read of PN-counters."""
JOURNAL_LEVELS = ("off", "applies", "full")
MAX_JOURNAL_MB = 1024 * 1024
"""The largest ``--journal-max-mb``: 1 TiB (a bound any disk reaches first; its bytes fit the header's integer)."""


EXPLORE_TIME_LIMIT = 8.0
EXPLORE_FAULT_INTERVAL = 2.0
"""Explore's defaults: short runs, so more seeds fit; as with the run defaults (30 s, 5 s) the last
fault window ends with the load (8/2 = 4 intervals), so a fault whose damage only repair could undo
is still in force when the load stops."""


COMPARE_QUIESCE = 0.0
"""``compare``'s default ``--quiesce``: the final reads start at the heal, so the time they take to
agree measures how fast each conflict mode's repair converges (after a quiet wait it would be one
round for every mode)."""


class OptionError(ValueError):
    """A flag value that cannot work; the message says what to use instead."""


SEED_MAX = 2**63 - 1
"""The largest seed: seeds lie in 0..2**63-1 (the journal header and explore's ledger hold them as signed
64-bit integers; ``run``, ``replay`` and ``explore`` all refuse others)."""


def _whole(value: object) -> bool:
    return type(value) is int


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


FIELD_TYPES: dict[str, tuple[str, Any]] = {
    "int": ("a whole number", _whole),
    "number": ("a number", _number),
    "rate": ("a number or 'max'", lambda v: _number(v) or v == "max"),
    "str": ("a string", lambda v: isinstance(v, str)),
    "str?": ("a string or null", lambda v: v is None or isinstance(v, str)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "strs": ("a list of strings", lambda v: isinstance(v, list | tuple) and all(isinstance(x, str) for x in v)),
    "mix": ("a list of three whole numbers", lambda v: isinstance(v, list | tuple) and len(v) == 3
            and all(_whole(x) for x in v)),
    "object?": ("an object or null", lambda v: v is None or isinstance(v, dict)),
}
"""The kinds of value an option takes: what to call the kind in a message, and its test."""

OPTION_KINDS: dict[str, str] = {
    "nodes": "int", "replicas": "int", "write_quorum": "int", "read_quorum": "int", "cluster": "object?",
    "nemesis": "strs", "partition": "str", "fault_interval": "number", "crash_targets": "str",
    "time_limit": "number", "rate": "rate", "concurrency": "int", "keys": "int", "mix": "mix", "key_dist": "str",
    "seed": "int", "quiesce": "number", "converge_timeout": "number", "mode": "str", "out": "str", "bug": "str?",
    "checkers": "strs", "name": "str?", "verbose": "bool", "key_size": "str?", "value_size": "str?",
    "journal": "str?", "journal_max_mb": "number", "conflict": "str", "workload": "str",
}
"""Every ``RunOptions`` field's kind (``FIELD_TYPES``), as run.json holds it; checked before any value is compared."""

FLAG_OF = {"checkers": "--checker", "cluster": "--config"}


def flag_of(field: str) -> str:
    """The command-line flag of a ``RunOptions`` field: ``time_limit`` -> ``--time-limit``."""
    return FLAG_OF.get(field, "--" + field.replace("_", "-"))


def check_kind(field: str, value: object, named: str) -> None:
    """Raise ``OptionError`` ``<named> must be <kind>, got <value>`` when ``value`` is not of ``field``'s kind."""
    what, test = FIELD_TYPES[OPTION_KINDS[field]]
    if not test(value):
        raise OptionError(f"{named} must be {what}, got {value!r}")


def check_seed_range(seed: int, named: str) -> None:
    if not 0 <= seed <= SEED_MAX:
        raise OptionError(f"{named} must lie in 0..2**63-1, got {seed}")


def unknown_choice(flag: str, bad: list[str], choices: tuple[str, ...]) -> OptionError:
    """``--nemesis: unknown 'partiton' (did you mean 'partition'?); choose from ...``: the nearest choice for each."""
    shown = []
    for word in bad:
        close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
        shown.append(f"{word!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return OptionError(f"{flag}: unknown {', '.join(shown) or '(empty)'}; choose from {', '.join(choices)}")


def parse_mix(text: str) -> tuple[int, int, int]:
    """``put:get:delete`` weights, e.g. ``5:5:1``."""
    parts = text.split(":")
    negative = [(name, p.strip()) for name, p in zip(("put", "get", "delete"), parts, strict=False)
                if p.strip().startswith("-") and p.strip()[1:].isdigit()]
    if len(parts) == 3 and negative:
        name, weight = negative[0]
        raise OptionError(f"--mix {text}: weights cannot be negative ({name} weight {weight}); use 0 to leave "
                          f"{name} out, like 0:1:1")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise OptionError(f"--mix takes three whole numbers put:get:delete, like 5:5:1; got {text!r}")
    mix = (int(parts[0]), int(parts[1]), int(parts[2]))
    if sum(mix) == 0:
        raise OptionError("--mix needs at least one non-zero weight, like 5:5:1")
    return mix


def parse_nemesis(text: str) -> tuple[str, ...]:
    """Comma-separated fault kinds; ``none`` alone means no faults, ``all`` means every kind."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in NEMESIS_CHOICES]
    if bad or not kinds:
        raise unknown_choice("--nemesis", bad, NEMESIS_CHOICES)
    if "none" in kinds and len(kinds) > 1:
        raise OptionError("--nemesis none cannot be combined with other kinds")
    return () if kinds == ("none",) else kinds


@attrs.frozen
class SizeSpec:
    """A size in bytes drawn per key or per write: fixed (``low == high``) or uniform in ``[low, high]``."""

    low: int
    high: int

    def draw(self, rng: random.Random) -> int:
        return self.low if self.low == self.high else rng.randint(self.low, self.high)

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"uniform:{self.low}-{self.high}"


def min_key_bytes(keys: int) -> int:
    """The length of the longest key name ``k<i>`` of ``keys`` keys: no key can be shorter."""
    return len(f"k{keys - 1}")


def check_key_size(spec: SizeSpec | None, keys: int) -> None:
    """A ``--key-size`` below the key names' own length would be silently longer: refuse it, naming the minimum."""
    need = min_key_bytes(keys)
    if spec is not None and spec.low < need:
        fix = str(need) if spec.low == spec.high else f"uniform:{need}-{max(need, spec.high)}"
        raise OptionError(f"--key-size {spec}: {keys} keys are named k0..k{keys - 1}, so a key takes at least "
                          f"{need} bytes; use --key-size {fix} (or fewer --keys)")


def parse_size(flag: str, text: str | None, limit: int) -> SizeSpec | None:
    """``N`` or ``uniform:A-B`` (bytes, 1..limit); ``None`` or ``default`` keeps the natural size."""
    if text is None or text == "default":
        return None
    body = text.strip()
    uniform = body.startswith("uniform:")
    parts = body[len("uniform:"):].split("-") if uniform else [body]
    if len(parts) != (2 if uniform else 1) or not all(p.strip().isdigit() for p in parts):
        raise OptionError(f"{flag} takes a byte count N or uniform:A-B (like 200 or uniform:10-300); got {text!r}")
    low, high = int(parts[0]), int(parts[-1])
    if not 1 <= low <= high <= limit:
        raise OptionError(f"{flag}: sizes must satisfy 1 <= A <= B <= {limit} (the store's limit); got {text!r}")
    return SizeSpec(low, high)


def parse_rate(text: str | float) -> float:
    """Operations per second, or ``max`` for closed-loop clients."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    if isinstance(text, str) and text.strip().lower() == "max":
        return RATE_MAX
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise OptionError(f"--rate takes operations per second or 'max'; got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise OptionError(f"--rate must be a positive number of operations per second or 'max'; got {text!r}")
    return value


def size_option(flag: str, text: str | None, limit: int) -> str | None:
    """The canonical text of a size flag for RunOptions (``None`` for the natural size)."""
    spec = parse_size(flag, text, limit)
    return None if spec is None else str(spec)


def rate_text(rate: float) -> str:
    return "max" if rate == RATE_MAX else f"{rate:g}"


def parse_checkers(text: str) -> tuple[str, ...]:
    names = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in names if k not in CHECKERS]
    if bad or not names:
        raise unknown_choice("--checker", bad, CHECKERS)
    return names


def check_conflict_workload(conflict: object, workload: object) -> None:
    """``--conflict`` and ``--workload`` are known, and the workload's data type exists under that conflict mode."""
    if conflict not in CONFLICTS:
        raise unknown_choice("--conflict", [str(conflict)], CONFLICTS)
    if workload not in WORKLOADS:
        raise unknown_choice("--workload", [str(workload)], WORKLOADS)
    if workload in ("set", "counter") and conflict != "crdt":
        raise OptionError(f"--workload {workload} needs --conflict crdt (its {'OR-set' if workload == 'set' else 'PN-counter'}"
                          f" is a CRDT type); got --conflict {conflict}; use --conflict crdt --workload {workload}")


CLUSTER_SETTINGS = ("file", "vnodes", "read_repair_chance", "fsync", "timeouts")


def check_cluster_settings(settings: object) -> None:
    """``RunOptions.cluster`` must be settings a cluster TOML could hold; checked by the config's own parser."""
    if not isinstance(settings, dict) or not set(settings) <= set(CLUSTER_SETTINGS):
        raise OptionError(f"cluster settings must be an object with keys among {', '.join(CLUSTER_SETTINGS)}, "
                          f"got {settings!r}")
    source = str(settings.get("file") or "cluster settings")
    table = {k: settings[k] for k in ("vnodes", "read_repair_chance", "fsync") if k in settings}
    try:
        parse_config({"cluster": table, "timeouts": settings.get("timeouts", {}),
                      "nodes": [{"id": "n1", "host": "127.0.0.1", "port": 1}]}, source)
    except ConfigError as exc:
        raise OptionError(str(exc)) from None


@attrs.frozen
class RunOptions:
    """Every setting of one run, and the only place their defaults are written (the flags' help quotes
    them). Checked on construction (``attrs.evolve`` included): an instance is always a run that can be made."""

    nodes: int = 5
    replicas: int = 3
    write_quorum: int = 1
    read_quorum: int = 1
    cluster: dict[str, Any] | None = attrs.field(default=None, hash=False)
    """Settings taken from a cluster TOML (``--config``): file, vnodes, read_repair_chance, fsync, timeouts."""
    nemesis: tuple[str, ...] = ()
    partition: str = "random-halves"
    fault_interval: float = 5.0
    crash_targets: str = "all"
    time_limit: float = 30.0
    rate: float = 200.0
    concurrency: int = 10
    keys: int = 20
    mix: tuple[int, int, int] = (5, 5, 1)
    key_dist: str = "uniform"
    seed: int = 0
    quiesce: float = 3.0
    converge_timeout: float = 15.0
    mode: str = "udp"
    out: str = "histories"
    bug: str | None = None
    checkers: tuple[str, ...] = ("convergence",)
    name: str | None = None
    verbose: bool = False
    key_size: str | None = None
    """``--key-size``: None keeps ``k<i>``; else ``N`` or ``uniform:A-B`` bytes (see ``SizeSpec``)."""
    value_size: str | None = None
    """``--value-size``: None keeps ``p<process>-<n>``; else ``N`` or ``uniform:A-B`` bytes."""
    journal: str | None = None
    """``--journal off|applies|full``; None: the mode's default (``runner.journal.default_level``)."""
    journal_max_mb: float = 512.0
    """``--journal-max-mb``: the journal stops (END "size-limit") at this many MiB compressed."""
    conflict: str = "lww"
    """``--conflict lww|siblings|crdt``: the cluster's conflict resolution (passed to its config in every mode)."""
    workload: str = "register"
    """``--workload register|set|counter``: set and counter need ``--conflict crdt``."""

    @property
    def journal_level(self) -> str:
        """The journal level this run uses: ``--journal``, else full in sim/udp and off in processes."""
        if self.journal is not None:
            return self.journal
        return "off" if self.mode == "processes" else "full"

    def __attrs_post_init__(self) -> None:
        self.validate()

    @property
    def key_size_spec(self) -> SizeSpec | None:
        return parse_size("--key-size", self.key_size, MAX_KEY_BYTES)

    @property
    def value_size_spec(self) -> SizeSpec | None:
        return parse_size("--value-size", self.value_size, MAX_VALUE_BYTES)

    @property
    def closed_loop(self) -> bool:
        return self.rate == RATE_MAX

    def validate(self) -> RunOptions:
        """Raise ``OptionError`` naming the flag for any value that cannot make a run."""
        def positive(flag: str, value: float) -> None:
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise OptionError(f"{flag} must be a positive number, got {value!r}")

        # Kinds first: a string where a number belongs must be named, not compared ('<=' not supported ...).
        # The tuples (nemesis, mix, checkers), cluster and journal_max_mb have checks of their own below.
        for name in attrs.fields_dict(RunOptions):
            if name != "journal_max_mb" and OPTION_KINDS[name] in ("int", "number", "rate", "str", "str?", "bool"):
                check_kind(name, getattr(self, name), flag_of(name))
        check_seed_range(self.seed, "--seed")
        if not 1 <= self.nodes <= MAX_NODES:
            raise OptionError(f"--nodes must be between 1 and {MAX_NODES}, got {self.nodes}")
        if self.cluster is not None:
            check_cluster_settings(self.cluster)
        if not 1 <= self.replicas <= self.nodes:
            raise OptionError(f"--replicas must be between 1 and --nodes ({self.nodes}), got {self.replicas}")
        for flag, q in (("--write-quorum", self.write_quorum), ("--read-quorum", self.read_quorum)):
            if not 1 <= q <= self.replicas:
                raise OptionError(f"{flag} must be between 1 and --replicas ({self.replicas}), got {q}")
        for flag, value in (
            ("--fault-interval", self.fault_interval), ("--time-limit", self.time_limit),
            ("--converge-timeout", self.converge_timeout),
        ):
            positive(flag, value)
        if not (isinstance(self.rate, int | float) and self.rate > 0 and not math.isnan(self.rate)):
            raise OptionError(f"--rate must be a positive number of operations per second or 'max', got {self.rate!r}")
        parse_size("--key-size", self.key_size, MAX_KEY_BYTES)
        parse_size("--value-size", self.value_size, MAX_VALUE_BYTES)
        if not (math.isfinite(self.quiesce) and self.quiesce >= 0):
            raise OptionError(f"--quiesce must be zero or more seconds, got {self.quiesce}")
        if not 1 <= self.concurrency <= 1000:
            raise OptionError(f"--concurrency must be between 1 and 1000, got {self.concurrency}")
        if not 1 <= self.keys <= 1_000_000:
            raise OptionError(f"--keys must be between 1 and 1,000,000, got {self.keys}")
        check_key_size(parse_size("--key-size", self.key_size, MAX_KEY_BYTES), self.keys)
        if self.partition not in PARTITION_KINDS:
            raise unknown_choice("--partition", [self.partition], tuple(PARTITION_KINDS))
        if self.crash_targets not in CRASH_TARGETS:
            raise unknown_choice("--crash-targets", [self.crash_targets], tuple(CRASH_TARGETS))
        if self.key_dist not in KEY_DISTS:
            raise unknown_choice("--key-dist", [self.key_dist], tuple(KEY_DISTS))
        if self.mode not in MODES:
            raise unknown_choice("--mode", [self.mode], tuple(MODES))
        if self.journal is not None and self.journal not in JOURNAL_LEVELS:
            raise unknown_choice("--journal", [self.journal], JOURNAL_LEVELS)
        if not (isinstance(self.journal_max_mb, int | float) and not isinstance(self.journal_max_mb, bool)
                and math.isfinite(self.journal_max_mb) and 0 < self.journal_max_mb <= MAX_JOURNAL_MB):
            raise OptionError(f"--journal-max-mb must be a positive number of MiB up to {MAX_JOURNAL_MB:,} "
                              f"(1 TiB), got {self.journal_max_mb!r}")
        check_conflict_workload(self.conflict, self.workload)
        if self.bug is not None and self.bug not in BUGS:
            raise unknown_choice("--bug", [self.bug], tuple(BUGS))
        if not isinstance(self.nemesis, tuple) or not all(isinstance(k, str) for k in self.nemesis):
            raise OptionError(f"nemesis must be a tuple of fault kinds, got {self.nemesis!r}")
        bad = [k for k in self.nemesis if k not in NEMESIS_CHOICES or k == "none"]
        if bad:
            raise unknown_choice("--nemesis", bad, NEMESIS_CHOICES)
        if (not isinstance(self.mix, tuple) or len(self.mix) != 3
                or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for w in self.mix)):
            raise OptionError(f"--mix takes three whole numbers put:get:delete, like 5:5:1; got {self.mix!r}")
        if sum(self.mix) == 0:
            raise OptionError("--mix needs at least one non-zero weight, like 5:5:1")
        if not isinstance(self.checkers, tuple) or not self.checkers or any(c not in CHECKERS for c in self.checkers):
            raise unknown_choice("--checker", [c for c in self.checkers if c not in CHECKERS] if isinstance(
                self.checkers, tuple) else [str(self.checkers)], CHECKERS)
        return self

    def to_json(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["nemesis"] = list(self.nemesis)
        data["mix"] = list(self.mix)
        data["checkers"] = list(self.checkers)
        data["rate"] = "max" if self.closed_loop else self.rate
        return data

    @classmethod
    def from_json(cls, data: object) -> RunOptions:
        """The options run.json recorded; a wrong one raises ``OptionError`` naming ``options.<field>`` (the
        caller puts the file in front): its kind first, the seed's range, then ``validate``'s checks."""
        if not isinstance(data, dict):
            raise OptionError("'options' must be an object")
        known = {f.name for f in attrs.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise OptionError(f"unknown option(s) {sorted(unknown)}")
        for name, value in data.items():
            check_kind(name, value, f"options.{name}")
        if "seed" in data:
            check_seed_range(data["seed"], "options.seed")
        values = dict(data)
        for name in ("nemesis", "checkers"):
            if name in values:
                values[name] = tuple(values[name])
        if "mix" in values:
            values["mix"] = tuple(values["mix"])
        if "rate" in values:
            values["rate"] = parse_rate(values["rate"])
        return cls(**values)


assert set(OPTION_KINDS) == set(attrs.fields_dict(RunOptions)), "every RunOptions field needs its kind in OPTION_KINDS"
