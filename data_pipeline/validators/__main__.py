"""``python -m data_pipeline.validators``: the same as
``python -m data_pipeline.sql_validation``."""

import sys

from data_pipeline.sql_validation.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
