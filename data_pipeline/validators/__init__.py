"""The former name of step 3's package, :mod:`data_pipeline.sql_validation`: kept only so
that ``python -m data_pipeline.validators ...`` (documented before the packages were named
after the steps) keeps working. New code imports :mod:`data_pipeline.sql_validation`."""
