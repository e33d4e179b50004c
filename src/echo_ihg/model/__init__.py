"""ECHO motion model: LCU (LPE scan, HBCU describer + GCA, LAU affect), the SDCM diffusion transformer,
diffusion schedule/sampler and the long-form / streaming engine. See docs in each module and
docs/architecture.md (component 6)."""
