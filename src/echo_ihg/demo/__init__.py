"""The demo application (`echo-ihg demo`): the product (`inference`) and the grader (`eval`) run once on a
synthetic conversation whose truth is known. It sits above both in the import order (docs/architecture.md).

    from echo_ihg.demo import DemoConfig, run_demo
"""

from echo_ihg.demo.run import DemoConfig, DemoResult, run_demo

__all__ = ["DemoConfig", "DemoResult", "run_demo"]
