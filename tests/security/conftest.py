from tests.app.conftest import cfg, config_file  # noqa: F401 - shared fixtures
