"""Demo steps, in the order the report shows them; each defines ``run(ctx) -> ReportSection``."""
