"""One module per package's demo step. Each defines ``PACKAGE`` (the distribution),
``MODULE`` (imported to tell whether it is installed), ``TITLE``, and ``run(demo)``."""
