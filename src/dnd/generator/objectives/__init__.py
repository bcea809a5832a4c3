"""Training objectives of the generator, one module each behind base.Objective."""
