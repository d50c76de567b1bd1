"""The synthesis safety filter against tests written to get out: each attack is one assert a hostile model (or
user) could put in a reply, and each must be dropped with a reason; ordinary tests must still pass."""

from __future__ import annotations

import ast

import pytest
from acecoder.synth.parsing import DROP_REASONS, filter_tests
from acecoder.synth.safety import unsafe_reason

ATTACKS = {
    "getattr chain to os.system": "assert getattr(getattr(f, '__glo' + 'bals__')['o' + 's'], 'sys' + 'tem')('id') == 0",
    "computed attribute name": "assert getattr(f, 'sys' + 'tem') is not None",
    "getattr of a dunder": "assert getattr(f, '__globals__') is not None",
    "getattr on __builtins__": "assert getattr(__builtins__, 'ev' + 'al')('1') == 1",
    "getattr as a value": "assert (g := getattr) and g(f, 'x') == 1",
    "getattr mapped": "assert list(map(getattr, [f], ['__code__']))",
    "subclasses from a tuple": "assert ().__class__.__base__.__subclasses__()",
    "list class": "assert [].__class__.__mro__[1] is object",
    "lambda globals": "assert (lambda: 0).__globals__['os'].system('id') == 0",
    "lambda default": "assert (lambda o=__import__('o' + 's'): o.system('id'))() == 0",
    "import by concatenation": "assert __import__('o' + 's').getcwd()",
    "importlib": "assert importlib.import_module('os').getcwd()",
    "open": "assert open('/etc/passwd').read()",
    "breakpoint": "assert breakpoint() is None",
    "vars": "assert vars(f)['x'] == 1",
    "globals": "assert globals()['f'](1) == 1",
    "eval": "assert eval('1 + 1') == 2",
    "exec": "assert exec('import os') is None",
    "compile": "assert compile('1', 'x', 'eval')",
    "generator frame": "assert (x for x in ()).gi_frame.f_globals['__builtins__']",
    "format string reach": "assert '{0.__globals__}'.format(f)",
    "dunder subscript string": "assert f.__dict__['__builtins__']",
    "dunder string alone": "assert ['__builtins__'] != []",
    "attrgetter": "assert operator.attrgetter('x')(f)",
    "setattr computed": "assert setattr(f, 'a' + 'b', 1) is None",
    "pickle": "assert pickle.loads(b'') is None",
    "gc": "assert gc.get_objects()",
    "sys modules via alias": "assert m.modules['os']",
    "environ": "assert e.environ['HOME']",
    "dunder name": "assert __loader__ is not None",
    "format string built at run time": "assert ('{0.__glob' + 'als__}').format(f)",
    "format_map on a variable": "assert s.format_map(vars())",
    "string formatter": "assert string.Formatter().get_field('0.__class__', [f], {})",
    "license pages and waits": "assert license() is None",
    "fullwidth eval (NFKC)": "assert \uff45\uff56\uff41\uff4c('1') == 1",
    "dunder keyword": "assert f(**{'__class__': 1})",
    "traceback frame": "assert (e := Exception()).__traceback__.tb_frame",
}

ORDINARY = [
    "assert f(1) == 2",
    "assert f([1, 2, 3]) == [3, 2, 1]",
    "assert f({'a': 1}) == {'a': 1} and f(set()) == set()",
    "assert math.isclose(f(0.1), 0.2, rel_tol=1e-09)",
    "assert isinstance(f(1), int)",
    "assert sorted(f('abc')) == ['a', 'b', 'c']",
    "assert abs(f(2) - 1.41421) < 1e-05",
    "assert f(*[1, 2]) == 3 and f(x=1) == 1",
    "assert set(f((3, 4, 5, 6), (5, 7, 4, 10))) == set((4, 5))",
    "assert f.__name__ == 'f'",
    "assert getattr(f(), 'value') == 3",
    "assert hasattr(f(), 'items')",
    "assert f('Yellow  Dirty') == 'Yellow__Dirty'",
    "assert [f(i) for i in range(3)] == [0, 1, 4]",
    "assert (lambda x: x + 1)(f(1)) == 3",
    "assert type(f(1)) is float",
    "assert f(collections.Counter('aab')) == 2",
    "assert f(3) == '{:.2f}'.format(3.0)",
    "assert f('x') == '%s!' % 'x'",
    "assert f(1) == f'{1}'",
    "assert getattr(f(), 'value', None) is None",
]


@pytest.mark.parametrize("test", list(ATTACKS.values()), ids=list(ATTACKS))
def test_attacks_are_dropped_with_a_reason(test):
    assert unsafe_reason(ast.parse(test)) is not None
    kept, dropped = filter_tests([test])
    assert kept == []
    assert dropped == {**dict.fromkeys(DROP_REASONS, 0), "unsafe": 1}


def test_the_reason_names_the_road():
    assert "computed attribute name" in unsafe_reason(ast.parse(ATTACKS["getattr chain to os.system"]))
    assert "__subclasses__" in unsafe_reason(ast.parse("assert object.__subclasses__()"))
    assert "value" in unsafe_reason(ast.parse(ATTACKS["getattr as a value"]))
    assert "os" in unsafe_reason(ast.parse("assert os.getcwd()"))


@pytest.mark.parametrize("test", ORDINARY)
def test_ordinary_tests_pass(test):
    assert unsafe_reason(ast.parse(test)) is None
    assert filter_tests([test])[0] == [test]
