"""Make CPython behave like pyscript's interpreter where it cheaply can; refuse where it cannot.

* ``check_source``: static check for constructs pyscript 1.7.0 cannot run or runs differently
  (pyscript.md §3; ``eval.py`` ``ast_not_implemented``, ``ast_formattedvalue``, ``ast_classdef``,
  ``ast_lambda``). Bodies of ``@pyscript_compile``/``@pyscript_executor`` functions and lambdas
  are native Python in pyscript too, so they are not checked.
* ``make_builtins``: the builtins pyscript code sees: ``eval.py`` ``BUILTIN_EXCLUDE`` removed
  (``open``, ``input``, ``compile``, ``breakpoint``, ``memoryview``), ``print`` = ``log.debug``,
  and an ``__import__`` that applies ``eval.py`` ``ast_import``/``ast_importfrom``: pyscript
  modules first, then only ``const.py`` ``ALLOWED_IMPORTS`` unless ``allow_all_imports``
  (``ModuleNotFoundError: import of X not allowed``); ``from stubs... import`` is skipped.
* ``ModuleFinder``: files under ``pyscript/modules`` are imported with those builtins and checked,
  whoever imports them (the app or a test), so a module that would fail in pyscript fails here.
"""

from __future__ import annotations

import ast
import builtins
import importlib.abc
import importlib.machinery
import os
import sys

from .errors import PyscriptIncompatible, StubLimitation

ALLOWED_IMPORTS = frozenset({
    "black", "cmath", "datetime", "decimal", "fractions", "functools", "homeassistant.const",
    "isort", "json", "math", "number", "random", "re", "statistics", "string", "time", "voluptuous",
})
BUILTIN_EXCLUDE = frozenset({"breakpoint", "compile", "input", "memoryview", "open", "print"})
COMP_DECORATORS = frozenset({"pyscript_compile", "pyscript_executor"})
_DUNDERS_OK = frozenset({"__init__", "__enter__", "__exit__", "__aenter__", "__aexit__"})
_KEY_FUNCS = frozenset({"sorted", "min", "max", "sort", "nsmallest", "nlargest", "groupby"})


def _dec_name(dec):
    node = dec.func if isinstance(dec, ast.Call) else dec
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_native(func):
    return any(_dec_name(d) in COMP_DECORATORS for d in func.decorator_list)


def _stored_names(nodes):
    names = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.add(sub.id)
            elif isinstance(sub, ast.arg):
                names.add(sub.arg)
    return names


class _Checker(ast.NodeVisitor):
    def __init__(self, pyscript_modules):
        self.problems = []
        self.func_locals = []  # stack of local-name sets of enclosing pyscript functions
        self.pyscript_funcs = set()
        self.module_funcs = set()  # this module's top-level pyscript (not native) functions
        self.pyscript_modules = set(pyscript_modules)
        self.class_inits = {}

    def bad(self, node, msg):
        self.problems.append(f"line {getattr(node, 'lineno', '?')}: {msg}")

    def visit_Module(self, node):
        for sub in ast.walk(node):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_native(sub):
                self.pyscript_funcs.add(sub.name)
        self.module_funcs = {sub.name for sub in node.body
                             if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_native(sub)}
        self.generic_visit(node)

    def _check_native(self, node):
        """A native (@pyscript_compile) function that calls one of this module's pyscript
        functions gets a coroutine back in pyscript (eval.py: pyscript functions are async)."""
        own = _stored_names([node.args]) | _stored_names(node.body)
        for sub in ast.walk(node):
            if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id not in own
                    and sub.func.id in self.module_funcs):
                self.bad(sub, f"native function {node.name}() calls pyscript function {sub.func.id}(): "
                              "in pyscript that returns a coroutine (make it @pyscript_compile too)")

    def visit_FunctionDef(self, node):
        if _is_native(node):
            self._check_native(node)
            return
        for dec in node.decorator_list:
            self.visit(dec)
        self.visit(node.args)
        args = node.args
        params = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        params |= {a.arg for a in (args.vararg, args.kwarg) if a}
        body_locals = set()
        for stmt in node.body:
            for sub in ast.walk(stmt):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    body_locals.add(sub.id)
        self.func_locals.append(params | body_locals)
        for stmt in node.body:
            self.visit(stmt)
        self.func_locals.pop()

    def visit_AsyncFunctionDef(self, node):
        self.bad(node, f"async def {node.name}(): the stubs cannot run async functions "
                       "(pyscript runs them like plain functions; write a plain def)")

    def visit_Await(self, node):
        self.bad(node, "await: not supported by the stubs")

    def visit_Lambda(self, node):
        # pyscript compiles lambdas natively: locals of the enclosing pyscript function are not visible
        if self.func_locals:
            own = _stored_names([node.args]) | _stored_names([node.body])
            for sub in ast.walk(node.body):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                    if sub.id not in own and any(sub.id in scope for scope in self.func_locals):
                        self.bad(node, f"lambda uses local variable '{sub.id}' of the enclosing function: "
                                       "NameError in pyscript (bind it as a default: lambda x, v=v: ...)")
        for default in node.args.defaults + node.args.kw_defaults:
            if default is not None:
                self.visit(default)

    def visit_GeneratorExp(self, node):
        self.bad(node, "generator expression: NotImplementedError ast_generatorexp in pyscript; use a list comprehension")

    def visit_Yield(self, node):
        self.bad(node, "yield: NotImplementedError in pyscript")

    visit_YieldFrom = visit_Yield

    def visit_Match(self, node):
        self.bad(node, "match/case: NotImplementedError in pyscript")

    def visit_TryStar(self, node):
        self.bad(node, "except*: NotImplementedError in pyscript")

    def visit_FormattedValue(self, node):
        if node.conversion != -1:
            self.bad(node, "f-string conversion !r/!s/!a is ignored by pyscript; call repr()/str() explicitly")
        self.generic_visit(node)

    def visit_ClassDef(self, node):
        for base in node.bases:
            if isinstance(base, ast.Name) and self.class_inits.get(base.id):
                has_init = any(isinstance(s, ast.FunctionDef) and s.name == "__init__" for s in node.body)
                if not has_init:
                    self.bad(node, f"class {node.name}({base.id}): a pyscript base-class __init__ never runs for a subclass")
        self.class_inits[node.name] = any(
            isinstance(s, ast.FunctionDef) and s.name == "__init__" and not _is_native(s) for s in node.body
        )
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef) and not _is_native(stmt):
                for dec in stmt.decorator_list:
                    if _dec_name(dec) in ("property", "classmethod", "setter", "getter", "deleter"):
                        self.bad(stmt, f"@{_dec_name(dec)} on {node.name}.{stmt.name}: TypeError in pyscript")
                name = stmt.name
                if name.startswith("__") and name.endswith("__") and name not in _DUNDERS_OK:
                    self.bad(stmt, f"{node.name}.{name}: pyscript methods are async, so dunders Python calls "
                                   "implicitly do not work (use @pyscript_compile on the method)")
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name) and func.id == "super" and not node.args:
            self.bad(node, "super() without arguments fails in pyscript ('__class__ cell not found')")
        fname = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        candidates = []
        if fname in _KEY_FUNCS:
            candidates = [kw.value for kw in node.keywords if kw.arg == "key"]
        elif fname in ("map", "filter", "partial") and node.args:
            candidates = [node.args[0]]
        for cand in candidates:
            if self._is_pyscript_callable(cand):
                self.bad(node, f"{fname}() gets a pyscript function: native code would receive coroutines "
                               "(pass a lambda or a @pyscript_compile function)")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr == "wraps":
            self.bad(node, "functools.wraps makes pyscript return the undecorated function")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id == "wraps" and isinstance(node.ctx, ast.Load):
            self.bad(node, "functools.wraps makes pyscript return the undecorated function")

    def _is_pyscript_callable(self, node):
        if isinstance(node, ast.Name):
            return node.id in self.pyscript_funcs
        return (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in self.pyscript_modules)


def check_source(source, filename, is_pyscript_module=lambda name: False):
    """Raise PyscriptIncompatible listing every problem found in ``source``."""
    tree = ast.parse(source, filename)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_pyscript_module(alias.name):
                    imported.add(alias.asname or alias.name)
    checker = _Checker(imported)
    checker.visit(tree)
    if checker.problems:
        raise PyscriptIncompatible(f"{filename}: not runnable as-is by pyscript 1.7.0:\n  " + "\n  ".join(checker.problems))


# --------------------------------------------------------------------------- imports / builtins
class _StubsProxy:
    """``from stubs.x import name`` is skipped by pyscript: the name keeps its pyscript value."""

    def __init__(self, namespace):
        self._ns = namespace

    def __getattr__(self, name):
        try:
            return self._ns[name]
        except KeyError:
            raise AttributeError(name) from None


class ModuleFinder(importlib.abc.MetaPathFinder):
    """Imports files under the pyscript ``modules`` directories the pyscript way (see module doc)."""

    def __init__(self):
        self.dirs = []
        self.allow_all_imports = False
        self.print_hook = None  # set by the active PyscriptEnv: print(...) -> log.debug
        self._cache = {}

    def add_dir(self, path):
        path = os.path.abspath(path)
        if path not in self.dirs:
            self.dirs.append(path)
            self._cache.clear()

    def is_pyscript_module(self, name):
        hit = self._cache.get(name)
        if hit is None:
            rel = name.replace(".", os.sep)
            hit = any(os.path.isfile(os.path.join(d, rel, "__init__.py")) or os.path.isfile(os.path.join(d, rel + ".py"))
                      for d in self.dirs)
            self._cache[name] = hit
        return hit

    def owns(self, filename):
        return any(filename.startswith(d + os.sep) for d in self.dirs)

    def find_spec(self, fullname, path, target=None):
        if not self.dirs:
            return None
        if path is not None and not any(self.owns(os.path.abspath(p) + os.sep + "x") for p in path):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, list(path) if path is not None else self.dirs)
        if spec is None or not spec.origin or not spec.origin.endswith(".py") or not self.owns(spec.origin):
            return None
        spec.loader = _Loader(spec.origin, self)
        return spec

    def _print(self, *args, **kwargs):
        if self.print_hook is not None:
            self.print_hook(*args, **kwargs)

    def module_builtins(self):
        return make_builtins(self._print, make_import(self, lambda: self.allow_all_imports))


class _Loader(importlib.abc.Loader):
    def __init__(self, origin, finder):
        self.origin = origin
        self.finder = finder

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        with open(self.origin, encoding="utf-8") as fh:
            source = fh.read()
        check_source(source, self.origin, self.finder.is_pyscript_module)
        module.__dict__["__builtins__"] = self.finder.module_builtins()
        exec(compile(source, self.origin, "exec"), module.__dict__)  # noqa: S102

    def get_filename(self, fullname=None):
        return self.origin

    def get_source(self, fullname=None):
        with open(self.origin, encoding="utf-8") as fh:
            return fh.read()


def make_import(finder, allow_all, stubs_namespace=None):
    real_import = builtins.__import__

    def pyscript_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            raise StubLimitation(f"relative import (level {level}) of {name!r}: not supported by the stubs")
        if name == "stubs" or name.startswith("stubs."):
            if fromlist and stubs_namespace is not None:
                return _StubsProxy(stubs_namespace)
            raise StubLimitation(f"import {name}: only 'from stubs... import ...' (skipped by pyscript) is supported")
        if finder.is_pyscript_module(name) or allow_all() or name in ALLOWED_IMPORTS:
            return real_import(name, globals, locals, fromlist, level)
        raise ModuleNotFoundError(f"import from {name} not allowed" if fromlist else f"import of {name} not allowed")

    return pyscript_import


def _native(fn):
    """``@pyscript_compile``: pyscript recognises it by name in every file it interprets, modules
    included (eval.py ast_functiondef), and compiles the function natively; here it is already."""
    return fn


def make_builtins(print_fn, import_fn):
    table = {k: v for k, v in builtins.__dict__.items() if k not in BUILTIN_EXCLUDE}
    if print_fn is not None:
        table["print"] = print_fn
    table["__import__"] = import_fn
    table["pyscript_compile"] = _native
    return table


FINDER = ModuleFinder()


def install_finder():
    if FINDER not in sys.meta_path:
        sys.meta_path.insert(0, FINDER)
    return FINDER
