"""The sequential specifications an operation history is checked against.

A model turns each operation into a *step*: a function from a model state to the next state, or
to `BAD` when the operation cannot happen in that state (a read of 3 while the register holds 1).
States are hashable so that the search can memoise (linearized set, state) pairs.

Semantics that differ between sources are flags, not guesses:
- `null_read="any"`: a read that returned null matches any state (Knossos: "we don't know what the
  read was"), so it constrains nothing and is dropped; `"absent"`: null means the value is null,
  i.e. the key is absent (Porcupine's etcd model, MinikeyDB's `get`).
- `fail_cas="not-applied"`: a failed cas never happened (Knossos drops every `fail`);
  `"observed"`: it ran and found a value different from the expected one.

Each model also splits a history into independent parts (P-compositionality): a history is
linearizable exactly when each part is, so a per-key history is searched key by key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from checker.linearizable.operations import (
    R_CALL_INDEX,
    R_CALL_POS,
    R_F,
    R_KEY,
    R_RET_POS,
    R_STATUS,
    R_VALUE,
    Operation,
    freeze,
    op_error,
)


class _Bad:
    """The result of a step that cannot happen; a singleton compared by identity."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "BAD"


BAD: Any = _Bad()

Step = Callable[[Any], Any]


class ModelArgumentError(ValueError):
    """A bad model name, flag or initial state, reported before any search starts."""


@dataclass(frozen=True, slots=True)
class Flags:
    """The source-dependent semantics chosen by the caller."""

    null_read: str = "any"
    fail_cas: str = "not-applied"

    def __post_init__(self) -> None:
        if self.null_read not in ("any", "absent"):
            raise ModelArgumentError(f"null_read must be 'any' or 'absent', got {self.null_read!r}")
        if self.fail_cas not in ("not-applied", "observed"):
            raise ModelArgumentError(f"fail_cas must be 'not-applied' or 'observed', got {self.fail_cas!r}")


@dataclass(slots=True)
class CompiledOp:
    """An operation ready for the search.

    `must` is true when the operation certainly took effect inside its interval (an `ok`, or a
    failed cas under `fail_cas="observed"`); otherwise it may take effect late or never.
    `readonly` is true when the step never changes the state, which lets the search place it
    greedily (placing it earlier can never hurt).
    """

    #: The operation, or its record (`pair_records`) until `op` is first read: most compiled
    #: operations are only ever searched, which needs just the record's positions.
    source: Operation | list[Any]
    #: The step, or None for a read, blind write or cas, whose step follows from `tests` and
    #: `sets` (made on first use: the search of such parts never calls it).
    step_fn: Step | None
    must: bool
    readonly: bool
    #: (label, needs) templates; `{0}`... stand for `values`, formatted only when explaining,
    #: because formatting every operation up front cost more than the search itself.
    template: tuple[str, str]
    values: tuple[Any, ...] = ()
    #: The value the step leaves when it changes the state, if that value is fixed (writes,
    #: cas): `sets` is meaningful only when `produces` is true. `blind` marks writes legal in
    #: every state.
    sets: Any = None
    blind: bool = False
    produces: bool = False
    #: The values whose equality with the state the step tests; None when it depends on the
    #: state in any other way (appends, locks, txns, failed cas seen as an inequality).
    tests: tuple[Any, ...] | None = None
    #: The suffix an append adds (kv model); None for every other operation.
    appends: Any = None

    @property
    def call_pos(self) -> int:
        """The operation's `call_pos`, without making the `Operation` from its record."""
        src = self.source
        return src[R_CALL_POS] if type(src) is list else src.call_pos  # type: ignore[union-attr]

    @property
    def call_index(self) -> int:
        """The operation's `call_index`, without making the `Operation` from its record."""
        src = self.source
        return src[R_CALL_INDEX] if type(src) is list else src.call_index  # type: ignore[union-attr]

    @property
    def op(self) -> Operation:
        """The operation (made from its record on first use, then always the same object)."""
        src = self.source
        if type(src) is list:
            src = self.source = Operation(*src)
        return src  # type: ignore[return-value]

    @property
    def step(self) -> Step:
        """The operation as a function from a state to the next state, or to `BAD`."""
        fn = self.step_fn
        if fn is None:
            if self.blind and self.produces:
                fn = _write_step(self.sets)
            elif self.tests is not None and len(self.tests) == 1 and self.readonly:
                fn = _read_step(self.tests[0])
            elif self.tests is not None and len(self.tests) == 1 and self.produces:
                fn = _cas_step(self.tests[0], self.sets)
            else:  # pragma: no cover - every compile names its step otherwise
                raise ValueError(f"no step for {self.op.f!r}")
            self.step_fn = fn
        return fn

    @property
    def label(self) -> str:
        """What the operation did, in words ("read 3", "cas 1->2")."""
        return self.template[0].format(*map(_fmt, self.values))

    @property
    def needs(self) -> str:
        """What state the operation needs, in words ("to hold 3")."""
        return self.template[1].format(*map(_fmt, self.values))


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _read_step(expected: Any) -> Step:
    def step(state: Any) -> Any:
        return state if state == expected else BAD

    return step


def _write_step(value: Any) -> Step:
    def step(state: Any) -> Any:
        return value

    return step


def _cas_step(expected: Any, new: Any) -> Step:
    def step(state: Any) -> Any:
        return new if state == expected else BAD

    return step


def _cas_observed_fail_step(expected: Any) -> Step:
    def step(state: Any) -> Any:
        return BAD if state == expected else state

    return step


_READ = ("read {0}", "to hold {0}")
_WRITE = ("write {0}", "nothing")
_CAS = ("cas {0}->{1}", "to hold {0}")
_CAS_FAILED = ("cas {0}->{1} (failed)", "not to hold {0}")
_GET = ("get -> {0}", "to hold {0}")
_GET_ABSENT = ("get -> absent", "to be absent")
_PUT = ("put {0}", "nothing")
_DELETE = ("delete", "nothing")
_APPEND = ("append {0}", "to hold a string of the same type, or nothing")
_ACQUIRE = ("acquire", "to be unlocked")
_RELEASE = ("release", "to be locked")


class Model:
    """Common shape of a model: which `f`s it knows, how it splits a history, how it compiles ops."""

    name = ""
    functions: tuple[str, ...] = ()
    #: how a state is named in words ("the register", "key 'k3'", "the lock")
    subject = "the register"

    def split(self, ops: list[Operation]) -> dict[Any, list[Operation]]:
        """Group operations into independent parts; by default one part per `key` (None: unkeyed)."""
        parts: dict[Any, list[Operation]] = {}
        for op in ops:
            key = op.key
            try:
                parts.setdefault(key, []).append(op)
            except TypeError:
                raise op_error(op, "key", f"must be a string or number, got {key!r}") from None
        return parts

    def split_records(self, recs: list[list[Any]]) -> dict[Any, list[Any]]:
        """`split` for `pair_records`'s records: the parts' items, which only this model reads.

        By default the items are `Operation`s (made from every record); the register models keep
        the records and make `Operation`s only for what they compile (`compile_part`).
        """
        return self.split([Operation(*rec) for rec in recs])

    def compile_part(self, items: list[Any], part: Any, flags: Flags) -> list[CompiledOp] | CompiledPart:
        """Compile one part's items (from `split_records`), dropping those that constrain nothing."""
        compile_op = self.compile
        return [c for c in (compile_op(op, part, flags) for op in items) if c is not None]

    def part_operations(self, items: list[Any], cops: list[CompiledOp]) -> Sequence[Operation]:
        """A part's items as `Operation`s, the compiled ones being the very objects in `cops`."""
        return items

    def part_name(self, part: Any) -> str:
        """The name a part is reported under: its key, or the model's name for an unkeyed history."""
        return self.name if part is None else str(part)

    def part_subject(self, part: Any) -> str:
        """How the state of a part is named in words."""
        return self.subject if part is None else f"{self.subject} {part!r}"

    def initial_state(self, part: Any, init: Any) -> Any:
        """The state a part starts in, given the caller's `init`."""
        return freeze(init)

    def compile(self, op: Operation, part: Any, flags: Flags) -> CompiledOp | None:
        """Turn an operation into a step; None when it constrains nothing (e.g. a failed write)."""
        raise NotImplementedError

    def show(self, state: Any, part: Any) -> str:
        """A state in words."""
        return _fmt(state)

    def check_function(self, op: Operation) -> None:
        """Reject an `f` the model does not know, naming the event."""
        if op.f not in self.functions:
            known = ", ".join(self.functions)
            raise op_error(
                op, "f", f"{op.f!r} is not an operation of the {self.name} model (expected one of {known})"
            )


class _RecordModel(Model):
    """A model whose parts keep `pair_records`'s records: an `Operation` is made only for an
    operation that is compiled (about half of them in Knossos histories, whose failed operations
    never happened) and, for the rest, only when a part is explained."""

    def split_records(self, recs: list[list[Any]]) -> dict[Any, list[Any]]:
        if recs:
            try:
                keys = set(map(_record_key, recs))
            except TypeError:
                keys = set()  # an unhashable key: the loop below names its event
            if len(keys) == 1:
                return {recs[0][R_KEY]: recs}  # one part (a history of one register): no loop
        parts: dict[Any, list[Any]] = {}
        for rec in recs:
            key = rec[R_KEY]
            try:
                items = parts.get(key)
            except TypeError:
                raise op_error(Operation(*rec), "key", f"must be a string or number, got {key!r}") from None
            if items is None:
                items = parts[key] = []
            items.append(rec)
        return parts

    def part_operations(self, items: list[Any], cops: list[CompiledOp]) -> Sequence[Operation]:
        return _RecordOps(items, cops)

    def compile_part(self, items: list[Any], part: Any, flags: Flags) -> list[CompiledOp] | CompiledPart:
        return _compile_register_records(self, items, flags, kv=False)


_record_key = itemgetter(R_KEY)


class _RecordOps(Sequence[Operation]):
    """A part's records as `Operation`s (the compiled ones being the very objects in `cops`), each
    made when first read: an explanation draws the few near the failure (`near`), and making one
    for each of the thousands of records of a long history cost more than the explanation."""

    __slots__ = ("_by_call", "_cops", "_items", "_ops")

    def __init__(self, items: list[Any], cops: list[CompiledOp]) -> None:
        self._items = items
        self._cops = cops
        self._ops: list[Operation | None] = [None] * len(items)
        self._by_call: dict[int, CompiledOp] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._items)))]
        op = self._ops[i]
        if op is None:
            by_call = self._by_call
            if by_call is None:
                by_call = self._by_call = {c.call_pos: c for c in self._cops}
            rec = self._items[i]
            c = by_call.get(rec[R_CALL_POS])
            op = self._ops[i] = c.op if c is not None else Operation(*rec)
        return op

    def near(self, lo: int, hi: int, named: set[int]) -> list[Operation]:
        """In order, every operation whose interval meets positions `lo`..`hi` (one that may take
        effect late reaches to the end) or whose invocation's index is in `named`."""
        return [
            self[i]
            for i, rec in enumerate(self._items)
            if (rec[R_CALL_POS] <= hi and (rec[R_RET_POS] is None or rec[R_RET_POS] >= lo)) or rec[R_CALL_INDEX] in named
        ]


#: How a `CompiledPart` operation acts on the state: tests equality with `va` (a read or get),
#: sets `va` whatever the state (write, put, delete), or tests `va` and sets `vb` (cas).
K_READ, K_WRITE, K_CAS = 0, 1, 2


class CompiledPart(Sequence[CompiledOp]):
    """A part of reads, writes and cas compiled straight into the arrays the search reads.

    The search of such a part needs no `CompiledOp` per operation: `call[i]`/`ret[i]` are the
    operation's positions (`ret[i]` None when it may take effect late or never), `kind[i]` one of
    K_READ/K_WRITE/K_CAS and `va[i]`/`vb[i]` its values. As a sequence it is the `CompiledOp`s
    the model's own compile makes of `recs` (made on first use: explanations, budgets); a part
    made straight from the events (`direct.py`) has no `recs`, and is never asked for them.
    """

    __slots__ = ("_cops", "_make", "call", "kind", "recs", "ret", "uncertain_writes", "va", "vb")

    def __init__(self, recs: list[list[Any]] | None, call: list[int], ret: list[int | None], kind: list[int],
                 va: list[Any], vb: list[Any], make: Callable[[list[list[Any]]], list[CompiledOp]],
                 uncertain_writes: bool = True) -> None:
        #: False when no write of the part is uncertain (`drop_unobserved` has nothing to look at)
        self.uncertain_writes = uncertain_writes
        self.recs = recs
        self.call = call
        self.ret = ret
        self.kind = kind
        self.va = va
        self.vb = vb
        self._make = make
        self._cops: list[CompiledOp] | None = None

    def __len__(self) -> int:
        return len(self.call)

    @property
    def cops(self) -> list[CompiledOp]:
        """The `CompiledOp`s of the part, one per operation, in the same order."""
        if self._cops is None:
            self._cops = self._make(self.recs if self.recs is not None else [])
        return self._cops

    def __getitem__(self, i: Any) -> Any:
        return self.cops[i]

    def __iter__(self) -> Iterator[CompiledOp]:
        return iter(self.cops)

    def subset(self, keep: list[int]) -> CompiledPart:
        """The part with only the operations at the indices `keep` (in order)."""
        recs = None if self.recs is None else [self.recs[i] for i in keep]
        return CompiledPart(recs, [self.call[i] for i in keep], [self.ret[i] for i in keep],
                            [self.kind[i] for i in keep], [self.va[i] for i in keep], [self.vb[i] for i in keep],
                            self._make, self.uncertain_writes)


def _compile_register_records(
    model: Model, recs: list[list[Any]], flags: Flags, *, kv: bool
) -> list[CompiledOp] | CompiledPart:
    """The register family's compile of a part: straight into a `CompiledPart` when every operation
    is a read, write, delete or cas (`_register_arrays`), else `CompiledOp`s."""
    part = _register_arrays(model, recs, flags, kv=kv)
    if part is not None:
        return part
    return _compile_register_cops(model, recs, flags, kv=kv)


def _register_arrays(model: Model, recs: list[list[Any]], flags: Flags, *, kv: bool) -> CompiledPart | None:
    """`_compile_register_cops` into arrays (the same operations, values and order), or None for a
    part with any other operation (append, an observed failed cas) or an error to report, which
    `_compile_register_cops` then compiles or reports."""
    functions = model.functions
    aliases: dict[str, str] = KvModel.aliases if kv else {}
    null_any = flags.null_read == "any"
    fail_skips = flags.fail_cas == "not-applied"
    kept: list[list[Any]] = []
    call: list[int] = []
    ret: list[int | None] = []
    kind: list[int] = []
    va: list[Any] = []
    vb: list[Any] = []
    keep, add_call, add_ret, add_kind, add_a, add_b = kept.append, call.append, ret.append, kind.append, va.append, vb.append
    uncertain = False  # whether any write is uncertain
    for rec in recs:
        f = rec[R_F]
        status = rec[R_STATUS]
        if f not in functions:
            f = aliases.get(f)
            if f is None:
                return None  # not an operation of the model: the error is reported by the other path
        if f == "read" or f == "get":
            if status != "ok":
                continue
            value = rec[R_VALUE]
            if value is None:
                if null_any:
                    continue
            elif type(value) is not str and type(value) is not int:
                value = freeze(value)
            add_kind(K_READ)
        elif f == "write" or f == "put":
            if status == "fail":
                continue
            value = rec[R_VALUE]
            if not (value is None or type(value) is str or type(value) is int):
                value = freeze(value)
            add_kind(K_WRITE)
            if status != "ok":
                uncertain = True
        elif f == "cas":
            pair = rec[R_VALUE]
            if not ((type(pair) is list or type(pair) is tuple) and len(pair) == 2):
                return None  # malformed: the other path names the event
            if status == "fail":
                if fail_skips:
                    continue
                return None  # an observed failed cas tests an inequality: not an array operation
            value = freeze(pair[0])
            add_kind(K_CAS)
            add_b(freeze(pair[1]))
            keep(rec)
            add_call(rec[R_CALL_POS])
            add_ret(rec[R_RET_POS])
            add_a(value)
            continue
        elif f == "delete":
            if status == "fail":
                continue
            value = None
            add_kind(K_WRITE)
            if status != "ok":
                uncertain = True
        else:
            return None  # append
        add_b(None)
        keep(rec)
        add_call(rec[R_CALL_POS])
        add_ret(rec[R_RET_POS])  # None unless ok: a failed one was skipped above
        add_a(value)

    def make(part_recs: list[list[Any]]) -> list[CompiledOp]:
        return _compile_register_cops(model, part_recs, flags, kv=kv)

    return CompiledPart(kept, call, ret, kind, va, vb, make, uncertain)


def _compile_register_cops(model: Model, recs: list[list[Any]], flags: Flags, *, kv: bool) -> list[CompiledOp]:
    """`_compile_register_op` (or `KvModel.compile`) over a part's records, in one loop.

    Same checks in the same order and the same `CompiledOp`s; an `Operation` is made only when one
    is read (`CompiledOp.op`: explanations) or a field is in error.
    """
    out: list[CompiledOp] = []
    add = out.append
    functions = model.functions
    aliases: dict[str, str] = KvModel.aliases if kv else {}
    null_any = flags.null_read == "any"
    cas_fail_applies = flags.fail_cas != "not-applied"
    for rec in recs:
        f = rec[R_F]
        status = rec[R_STATUS]
        if f not in functions:
            if f not in aliases:
                model.check_function(Operation(*rec))  # raises, naming the event
            f = aliases[f]
        if f == "read" or f == "get":
            if status != "ok":
                continue  # an unknown or failed read constrains nothing
            value = rec[R_VALUE]
            if value is None:
                if null_any:
                    continue
                if f == "get":
                    add(CompiledOp(rec, None, True, True, _GET_ABSENT, (), None, False, False, (None,)))
                    continue
            elif type(value) is not str and type(value) is not int:
                value = freeze(value)
            tested = (value,)
            add(CompiledOp(rec, None, True, True, _GET if f == "get" else _READ, tested, None, False, False, tested))
        elif f == "write" or f == "put":
            if status == "fail":
                continue
            value = rec[R_VALUE]
            if not (value is None or type(value) is str or type(value) is int):
                value = freeze(value)
            add(CompiledOp(rec, None, status == "ok", False, _PUT if f == "put" else _WRITE, (value,),
                           value, True, True, ()))
        elif f == "cas":
            if status == "fail" and not cas_fail_applies:
                value = rec[R_VALUE]
                if (type(value) is list or type(value) is tuple) and len(value) == 2:
                    continue  # a failed cas never happened (a malformed one is still an error, below)
            c = _compile_register_op(Operation(*rec), flags, allow_cas=True)
            if c is not None:
                add(c)
        elif f == "append" and type(rec[R_VALUE]) is str:  # (KvModel.compile, without an Operation)
            if status == "fail":
                continue
            suffix = rec[R_VALUE]
            add(CompiledOp(rec, _append_step(suffix), status == "ok", False, _APPEND, (suffix,), appends=suffix))
        else:
            c = model.compile(Operation(*rec), None, flags)  # kv delete and append
            if c is not None:
                add(c)
    return out


class RegisterModel(_RecordModel):
    """A single read/write register (optionally one per `key`)."""

    name = "register"
    functions = ("read", "write")

    def compile(self, op: Operation, part: Any, flags: Flags) -> CompiledOp | None:
        self.check_function(op)
        return _compile_register_op(op, flags, allow_cas=False)


class CasRegisterModel(_RecordModel):
    """A read/write/compare-and-set register; cas values are `[expected, new]`."""

    name = "cas-register"
    functions = ("read", "write", "cas")

    def compile(self, op: Operation, part: Any, flags: Flags) -> CompiledOp | None:
        self.check_function(op)
        return _compile_register_op(op, flags, allow_cas=True)


def _compile_register_op(op: Operation, flags: Flags, *, allow_cas: bool) -> CompiledOp | None:
    if op.f == "read":
        if op.status != "ok":
            return None  # an unknown or failed read constrains nothing
        value = freeze(op.value)
        if value is None and flags.null_read == "any":
            return None
        return CompiledOp(op, None, True, True, _READ, (value,), tests=(value,))
    if op.f == "write":
        if op.status == "fail":
            return None
        value = freeze(op.value)
        return CompiledOp(
            op, None, op.status == "ok", False, _WRITE, (value,), value, True, True, ()
        )
    # cas
    pair = op.value
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        raise op_error(op, "value", f"a cas value must be [expected, new], got {pair!r}")
    expected, new = freeze(pair[0]), freeze(pair[1])
    if op.status == "fail":
        if flags.fail_cas == "not-applied":
            return None
        return CompiledOp(op, _cas_observed_fail_step(expected), True, True, _CAS_FAILED, (expected, new))
    return CompiledOp(
        op,
        None,
        op.status == "ok",
        False,
        _CAS,
        (expected, new),
        sets=new,
        produces=True,
        tests=(expected,),
    )


def init_value(init: dict[str, Any], key: Any) -> Any:
    """The initial value an ``--init`` object gives ``key`` (None: absent). JSON object keys are strings, so
    an integer key is named by its digits: ``{"1": "A"}`` gives key 1 (and key "1", if the history has both)."""
    if type(key) is int:
        return init.get(str(key))
    try:
        return init.get(key)
    except TypeError:  # an unhashable key (a history's own business): no initial value names it
        return None


def init_names_both(init: Any, keys: Iterable[Any]) -> list[str]:
    """The names of an ``--init`` object that name both an integer key and a string key of the history (1 and
    "1": `init_value` gives both the one value)."""
    if not isinstance(init, dict):
        return []
    ints = {str(k) for k in keys if type(k) is int}
    return [name for name in init if name in ints and any(type(k) is str and k == name for k in keys)]


def unused_init_keys(init: Any, keys: Iterator[Any]) -> list[str]:
    """The names of an ``--init`` object that no key of the history matches (`init_value`'s rule): a typo
    such as ``k01`` for ``k1`` would otherwise start nothing, silently."""
    if not isinstance(init, dict):
        return []
    named = {str(k) if type(k) is int else k for k in keys if type(k) in (int, str)}
    return [name for name in init if name not in named]


class KvModel(_RecordModel):
    """A key-value map checked key by key: get/put/delete, and append on string values.

    The state of a key is its value, or None when it is absent. `init` is a mapping from keys to
    initial values (keys not in it start absent), or one value every key starts at (Porcupine's
    kv model starts every key at "").
    """

    name = "kv"
    functions = ("get", "put", "delete", "append", "cas")
    #: Jepsen's register names, read as the kv operations docs/HISTORY.md says they are.
    aliases = {"read": "get", "write": "put"}
    subject = "key"

    def check_function(self, op: Operation) -> None:
        if op.f not in self.aliases:
            super().check_function(op)

    def split(self, ops: list[Operation]) -> dict[Any, list[Operation]]:
        for op in ops:
            if op.key is None:
                raise _no_key(op)
        return super().split(ops)

    def split_records(self, recs: list[list[Any]]) -> dict[Any, list[Any]]:
        if None in map(_record_key, recs):
            raise _no_key(Operation(*next(rec for rec in recs if rec[R_KEY] is None)))
        return super().split_records(recs)

    def compile_part(self, items: list[Any], part: Any, flags: Flags) -> list[CompiledOp] | CompiledPart:
        return _compile_register_records(self, items, flags, kv=True)

    def initial_state(self, part: Any, init: Any) -> Any:
        if init is None:
            return None
        if not isinstance(init, dict):
            return freeze(init)  # a single value: every key starts there (Porcupine's kv: "")
        return freeze(init_value(init, part))

    def part_keys(self, part: Any) -> tuple[Any, ...]:
        return (part,)

    def compile(self, op: Operation, part: Any, flags: Flags) -> CompiledOp | None:
        self.check_function(op)
        f = self.aliases.get(op.f, op.f)
        if f == "cas":
            return _compile_register_op(op, flags, allow_cas=True)
        if f == "get":
            if op.status != "ok":
                return None
            value = freeze(op.value)
            if value is None:
                if flags.null_read == "any":
                    return None
                return CompiledOp(op, None, True, True, _GET_ABSENT, tests=(None,))
            return CompiledOp(op, None, True, True, _GET, (value,), tests=(value,))
        if op.status == "fail":
            return None
        must = op.status == "ok"
        if f == "put":
            value = freeze(op.value)
            return CompiledOp(op, None, must, False, _PUT, (value,), value, True, True, ())
        if f == "delete":
            return CompiledOp(op, None, must, False, _DELETE, (), None, True, True, ())
        suffix = freeze(op.value)
        if not isinstance(suffix, str | tuple):
            raise op_error(op, "value", f"an append value must be a string or a list, got {op.value!r}")
        return CompiledOp(op, _append_step(suffix), must, False, _APPEND, (suffix,), appends=suffix)

    def show(self, state: Any, part: Any) -> str:
        return "absent" if state is None else _fmt(state)


def _no_key(op: Operation) -> ValueError:
    return op_error(
        op,
        "key",
        "the kv model needs a 'key' on every operation (a history of one register without "
        "keys checks with --model register, or cas-register)",
    )


def _append_step(suffix: Any) -> Step:
    kind = type(suffix)

    def step(state: Any) -> Any:
        if state is None:
            return suffix
        if type(state) is kind:
            return state + suffix
        return BAD

    return step


class MutexModel(Model):
    """A lock: acquire is legal only when unlocked, release only when locked (not owner-aware, as in Knossos)."""

    name = "mutex"
    functions = ("acquire", "release")
    subject = "the lock"

    def initial_state(self, part: Any, init: Any) -> Any:
        if init is None or init is False or init == "unlocked":
            return False
        if init is True or init == "locked":
            return True
        raise ModelArgumentError(
            f"mutex init must be 'unlocked', 'locked', true, false or null; got {init!r}"
        )

    def compile(self, op: Operation, part: Any, flags: Flags) -> CompiledOp | None:
        self.check_function(op)
        if op.status == "fail":
            return None
        must = op.status == "ok"
        if op.f == "acquire":
            return CompiledOp(op, _acquire, must, False, _ACQUIRE)
        return CompiledOp(op, _release, must, False, _RELEASE)

    def show(self, state: Any, part: Any) -> str:
        return "locked" if state else "unlocked"


def _acquire(state: Any) -> Any:
    return BAD if state else True


def _release(state: Any) -> Any:
    return False if state else BAD


class MultiRegisterModel(Model):
    """Registers read and written atomically by `txn`s of `[f, key, value]` micro-operations.

    Keys that never share a transaction are independent, so the history is split into the
    connected components of the "appear in the same txn" graph; a part's state is the tuple of
    its keys' values in sorted key order.
    """

    name = "multi-register"
    functions = ("txn",)
    subject = "registers"

    def __init__(self) -> None:
        self._keys: dict[Any, tuple[Any, ...]] = {}

    def split(self, ops: list[Operation]) -> dict[Any, list[Operation]]:
        parent: dict[Any, Any] = {}

        def find(k: Any) -> Any:
            while parent[k] != k:
                parent[k] = parent[parent[k]]
                k = parent[k]
            return k

        op_keys: list[list[Any]] = []
        for op in ops:
            self.check_function(op)
            keys = [micro[1] for micro in _micro_ops(op)]
            op_keys.append(keys)
            for k in keys:
                parent.setdefault(k, k)
            for k in keys[1:]:
                a, b = find(keys[0]), find(k)
                if a != b:
                    parent[b] = a
        groups: dict[Any, list[Any]] = {}
        for k in parent:
            groups.setdefault(find(k), []).append(k)
        name_of = {}
        for root, members in groups.items():
            ordered = tuple(sorted(members, key=str))
            name = "+".join(str(k) for k in ordered)
            self._keys[name] = ordered
            name_of[root] = name
        parts: dict[Any, list[Operation]] = {}
        for op, keys in zip(ops, op_keys, strict=True):
            if keys:
                parts.setdefault(name_of[find(keys[0])], []).append(op)
        return parts

    def part_name(self, part: Any) -> str:
        return str(part)

    def part_subject(self, part: Any) -> str:
        return f"registers {part}"

    def initial_state(self, part: Any, init: Any) -> Any:
        if init is not None and not isinstance(init, dict):
            raise ModelArgumentError(f"multi-register init must be an object of key: value, got {init!r}")
        init = init or {}
        return tuple(freeze(init_value(init, k)) for k in self._keys[part])

    def part_keys(self, part: Any) -> tuple[Any, ...]:
        return self._keys[part]

    def compile(self, op: Operation, part: Any, flags: Flags) -> CompiledOp | None:
        if op.status == "fail":
            return None
        slot = {k: i for i, k in enumerate(self._keys[part])}
        reads: list[tuple[int, Any]] = []
        writes: list[tuple[int, Any]] = []
        program: list[tuple[int, bool, Any]] = []
        words = []
        for f, key, value in _micro_ops(op):
            value = freeze(value)
            if f == "read":
                if op.status != "ok" or (value is None and flags.null_read == "any"):
                    continue  # unknown result: matches anything
                reads.append((slot[key], value))
                program.append((slot[key], False, value))
                words.append(f"read {key}={_fmt(value)}")
            else:
                writes.append((slot[key], value))
                program.append((slot[key], True, value))
                words.append(f"write {key}={_fmt(value)}")
        if not program:
            return None
        needs = ", ".join(f"{self._keys[part][i]}={_fmt(v)}" for i, v in reads) or "nothing"
        return CompiledOp(
            op,
            _txn_step(tuple(program)),
            op.status == "ok",
            not writes,
            (_literal("txn " + "; ".join(words)), _literal(needs)),
        )

    def show(self, state: Any, part: Any) -> str:
        return "{" + ", ".join(f"{k}={_fmt(v)}" for k, v in zip(self._keys[part], state, strict=True)) + "}"


def _micro_ops(op: Operation) -> list[tuple[str, Any, Any]]:
    txn = op.value
    if not isinstance(txn, list | tuple):
        raise op_error(op, "value", f"a txn value must be a list of [f, key, value], got {txn!r}")
    micro = []
    for m in txn:
        if not isinstance(m, list | tuple) or len(m) != 3 or m[0] not in ("read", "write"):
            raise op_error(op, "value", f'a txn micro-operation must be ["read"|"write", key, value], got {m!r}')
        try:
            hash(m[1])
        except TypeError:
            raise op_error(op, "value", f"a txn key must be a string or number, got {m[1]!r}") from None
        micro.append((m[0], m[1], m[2]))
    return micro


def _txn_step(program: tuple[tuple[int, bool, Any], ...]) -> Step:
    def step(state: Any) -> Any:
        current = state
        for slot, is_write, value in program:
            if is_write:
                if current[slot] != value:
                    current = current[:slot] + (value,) + current[slot + 1 :]
            elif current[slot] != value:
                return BAD
        return current

    return step


_MODEL_CLASSES: dict[str, type[Model]] = {
    "register": RegisterModel,
    "cas-register": CasRegisterModel,
    "kv": KvModel,
    "mutex": MutexModel,
    "multi-register": MultiRegisterModel,
}

MODELS: tuple[str, ...] = tuple(_MODEL_CLASSES)


def make_model(name: str) -> Model:
    """A fresh model by name (fresh: multi-register remembers the keys of the history it split)."""
    try:
        return _MODEL_CLASSES[name]()
    except KeyError:
        raise ModelArgumentError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None
