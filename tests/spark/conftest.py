"""One SparkSession for every Spark test: local[2], no UI, few shuffle partitions; stopped at the end.

The Spark engine's own ``spark_session`` (``getOrCreate``) returns this session too, so a
cycle run by a test never starts a second JVM. Skipped, with the reason, when no Java runtime
is installed (``make java`` installs Debian's openjdk-17-jre-headless).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from profilers.spark_profile import FIXED_CONF


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    if shutil.which("java") is None:
        pytest.skip("no Java runtime (hint: make java installs Debian's openjdk-17-jre-headless)")
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master("local[2]")
        .appName("vigil-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Test data is tiny: compiling whole-stage code for the wide aggregates costs more than it saves.
        .config("spark.sql.codegen.wholeStage", "false")
    )
    for key, value in FIXED_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
