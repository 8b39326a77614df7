"""The operations behind `noarkpipe.api`, one module per piece of work.

`api` resolves an installation (settings, then the store on first use) once
per operation and calls down here; the modules here hold what an operation
does beyond one call into a stage: gathering status, explaining a
classification, running the night with its report, a review's file work.
"""
