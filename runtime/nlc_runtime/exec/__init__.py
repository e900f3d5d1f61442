"""How an emitted model runs: the clock, streaming modules, wavefront, LM signal, compile."""
