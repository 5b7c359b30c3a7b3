"""tokenop-solve: exact, license-free GPU placement planning for LLM inference.

Data flows config -> candidates -> model -> solution -> report; each step is its own module.
"""

__version__ = "0.1.0"
