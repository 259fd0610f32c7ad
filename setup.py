"""The one compiled module (cdn_edge/qoe_compiled.pyx: viewer QoE's CMCD hit path), built by
`pip install` with Cython (pyproject.toml's [build-system]). Optional: where it cannot be compiled
(no C compiler), the install goes on and the edge runs cdn_edge/qoe.py, the reference implementation
(cdn_edge.qoe.create_tracker logs which one runs). Everything else is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("cdn_edge.qoe_compiled", ["cdn_edge/qoe_compiled.pyx"], optional=True)],
        compiler_directives={"language_level": "3"},
    )
)
