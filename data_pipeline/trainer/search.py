"""``python -m data_pipeline.trainer.search``: the same as
``python -m data_pipeline.training_load.search``."""

import sys

from data_pipeline.training_load.search import main

if __name__ == "__main__":
    sys.exit(main())
