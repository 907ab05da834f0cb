"""Builds the stimrank Python package by driving the project's CMake build.

pip install --no-build-isolation .     (PyPI is not needed: only Debian's setuptools)
Set STIMRANK_CMAKE_BUILD_DIR to reuse an existing CMake build tree.
"""
import glob
import os
import re
import shutil
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))


def project_version():
    """The one version: CMakeLists.txt's project(stimrank VERSION x.y.z)."""
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as cmake:
        return re.search(r"project\(stimrank VERSION ([0-9.]+)", cmake.read()).group(1)


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = os.environ.get("STIMRANK_CMAKE_BUILD_DIR") or os.path.join(
            os.path.abspath(self.build_temp), "cmake")
        args = ["-DSTIMRANK_BUILD_PYTHON=ON", "-DCMAKE_BUILD_TYPE=Release",
                "-DPython3_EXECUTABLE=/usr/bin/python3"]
        if not os.environ.get("STIMRANK_CMAKE_BUILD_DIR"):
            args.append("-DSTIMRANK_BUILD_TESTS=OFF")
        subprocess.check_call(["cmake", "-S", ROOT, "-B", build_dir, *args])
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "_core",
                               "-j", str(os.cpu_count() or 2)])
        built = glob.glob(os.path.join(build_dir, "python", "stimrank", "_core*.so"))
        if not built:
            raise RuntimeError("the CMake build did not produce stimrank/_core")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(built[0], target)


class BuildPyWithKnowledge(build_py):
    """Ships the knowledge base inside the package, so stimrank.load() finds it."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "stimrank", "knowledge")
        os.makedirs(target, exist_ok=True)
        for path in glob.glob(os.path.join(ROOT, "knowledge", "*.rules")):
            shutil.copy2(path, target)


setup(
    version=project_version(),
    packages=["stimrank"],
    package_dir={"stimrank": "bindings/stimrank"},
    package_data={"stimrank": ["__init__.pyi", "py.typed"]},
    ext_modules=[CMakeExtension("stimrank._core")],
    cmdclass={"build_ext": CMakeBuild, "build_py": BuildPyWithKnowledge},
    zip_safe=False,
)
