"""LLM providers behind one Protocol (``providers.base.Provider``)."""
