"""Plain domain types shared by the API, the pipeline, the rule engine and the workers."""
