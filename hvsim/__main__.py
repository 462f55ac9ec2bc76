import sys

try:
    from .cli import main
except ModuleNotFoundError as e:
    from . import venv
    if not venv.is_missing_package(e):
        raise
    sys.exit(venv.missing_package(e))

sys.exit(main())
