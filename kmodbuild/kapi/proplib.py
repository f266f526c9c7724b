"""kmodbuild.kapi.proplib - ``sys/prop/proplib.h``: property lists a module reads.

Unlike the stub kernel (which has no plist parser and finds nothing), the
emulated kernel holds real dictionaries: the one modload passes to INIT
(``modload -s who=you hello``, or ``NAME.plist``) is made from the simulator's
props and released after INIT, as kern_module.c does.
"""
from __future__ import annotations

from typing import Any

from kmodbuild.kapi._kernel import Kernel, kfunc

HEADER = "sys/prop/proplib.h"

_HANDLE_SIZE = 16


def _dicts(k: Kernel) -> dict[int, dict[str, Any]]:
    return k.state("prop", dict)


def make_dictionary(k: Kernel, values: dict[str, Any]) -> int:
    """A ``prop_dictionary_t`` holding ``values`` (kernel memory; release it)."""
    handle = k.alloc(_HANDLE_SIZE)
    _dicts(k)[handle] = dict(values)
    return handle


def _strings(k: Kernel) -> dict[tuple[int, str], int]:
    return k.state("prop.strings", dict)


@kfunc("prop_dictionary_t prop_dictionary_create(void)")
def prop_dictionary_create(k: Kernel) -> int:
    return make_dictionary(k, {})


@kfunc("void prop_object_release(prop_object_t)")
def prop_object_release(k: Kernel, obj: int) -> None:
    if _dicts(k).pop(obj, None) is None:
        return
    strings = _strings(k)
    for key in [key for key in strings if key[0] == obj]:
        text = strings.pop(key)
        k.free(text, len(k.mem.cstring(text, 1 << 16)) + 1)
    k.free(obj, _HANDLE_SIZE)


@kfunc("unsigned int prop_dictionary_count(prop_dictionary_t)")
def prop_dictionary_count(k: Kernel, d: int) -> int:
    return len(_dicts(k).get(d, {}))


def _value(k: Kernel, d: int, key: int) -> Any:
    return _dicts(k).get(d, {}).get(k.mem.cstring(key, 256)) if d and key else None


@kfunc("bool prop_dictionary_get_bool(prop_dictionary_t, const char *, bool *)")
def prop_dictionary_get_bool(k: Kernel, d: int, key: int, valp: int) -> int:
    value = _value(k, d, key)
    if not isinstance(value, bool):
        return 0
    k.mem.put(valp, 1, int(value))
    return 1


def _get_int(k: Kernel, d: int, key: int, valp: int, lo: int, hi: int) -> int:
    value = _value(k, d, key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        return 0
    k.mem.put(valp, 4, value)
    return 1


@kfunc("bool prop_dictionary_get_int32(prop_dictionary_t, const char *, int32_t *)")
def prop_dictionary_get_int32(k: Kernel, d: int, key: int, valp: int) -> int:
    return _get_int(k, d, key, valp, -(1 << 31), (1 << 31) - 1)


@kfunc("bool prop_dictionary_get_uint32(prop_dictionary_t, const char *, uint32_t *)")
def prop_dictionary_get_uint32(k: Kernel, d: int, key: int, valp: int) -> int:
    return _get_int(k, d, key, valp, 0, (1 << 32) - 1)


@kfunc("bool prop_dictionary_get_string(prop_dictionary_t, const char *, const char **)")
def prop_dictionary_get_string(k: Kernel, d: int, key: int, valp: int) -> int:
    value = _value(k, d, key)
    if not isinstance(value, str):
        return 0
    name = k.mem.cstring(key, 256)
    strings = _strings(k)
    if (d, name) not in strings:
        data = value.encode() + b"\0"
        strings[(d, name)] = k.alloc(len(data))
        k.mem.write(strings[(d, name)], data)
    k.mem.put_ptr(valp, strings[(d, name)])
    return 1
