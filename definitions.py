"""The QuantBot code location (workspace.yaml, [tool.dagster]): the settings are read from the environment
once, here, when Dagster loads the definitions; every stage builds its definitions from them."""

import dagster as dg

from assets import build_definitions
from resources.settings import Settings


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
