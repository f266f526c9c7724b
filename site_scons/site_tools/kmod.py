"""SCons tool shim: ``Environment(tools=['kmod'])`` loads kmodbuild's SCons tool."""
from kmodbuild.scons_tool import exists, generate  # noqa: F401
