"""Plain values read out of a pickle without unpickling it.

ilastik stores a few settings as pickles of plain Python values (the object table's export
settings: a tuple of a dict of strings, numbers and bools, and a list of feature names;
`ilastik/applets/base/appletSerializer/slotSerializer.py` `SerialPickleableSlot`). This module
walks the pickle's opcodes (`pickletools.genops`, which only decodes them) and builds those
values itself: None, bools, numbers, strings, bytes, tuples, lists and dicts. Any other
opcode (a global, a call, an object) rejects the whole pickle, so nothing is ever imported,
called or constructed: pixelserve never unpickles project content.
"""

from __future__ import annotations

import pickletools

_LITERALS = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
             "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE",
             "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8"}
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_EMPTY = {"EMPTY_DICT": dict, "EMPTY_LIST": list, "EMPTY_TUPLE": tuple}
_SMALL_TUPLES = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}


class NotPlain(ValueError):
    """The pickle holds more than plain values (or is broken)."""


def plain_value(data: bytes):
    """The value of a pickle of plain values; NotPlain for anything else."""
    stack: list = []
    marks: list[int] = []
    memo: dict = {}

    def since_mark() -> list:
        if not marks:
            raise NotPlain("a container without its mark")
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    try:
        for opcode, argument, _ in pickletools.genops(data):
            name = opcode.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                break
            if name == "MARK":
                marks.append(len(stack))
            elif name in _LITERALS:
                stack.append(argument)
            elif name in _CONSTANTS:
                stack.append(_CONSTANTS[name])
            elif name in _EMPTY:
                stack.append(_EMPTY[name]())
            elif name in _SMALL_TUPLES:
                count = _SMALL_TUPLES[name]
                items = stack[-count:]
                del stack[-count:]
                stack.append(tuple(items))
            elif name in ("TUPLE", "LIST"):
                items = since_mark()
                stack.append(tuple(items) if name == "TUPLE" else items)
            elif name == "DICT":
                items = since_mark()
                stack.append(dict(zip(items[::2], items[1::2])))
            elif name == "SETITEM":
                value, key = stack.pop(), stack.pop()
                stack[-1][key] = value
            elif name == "SETITEMS":
                items = since_mark()
                stack[-1].update(zip(items[::2], items[1::2]))
            elif name == "APPEND":
                value = stack.pop()
                stack[-1].append(value)
            elif name == "APPENDS":
                items = since_mark()
                stack[-1].extend(items)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[argument] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[argument])
            else:
                raise NotPlain(f"the pickle holds more than plain values ({name})")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        if isinstance(error, NotPlain):
            raise
        raise NotPlain(f"the pickle cannot be read ({error})") from None
    if len(stack) != 1 or marks:
        raise NotPlain("the pickle does not hold exactly one value")
    return stack[0]
