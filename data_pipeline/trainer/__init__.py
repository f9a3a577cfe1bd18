"""The former name of step 4's package, :mod:`data_pipeline.training_load`: kept only so that
``python -m data_pipeline.trainer.search ...`` (documented before the packages were named after
the steps) keeps working. New code imports :mod:`data_pipeline.training_load`."""
