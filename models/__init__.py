"""The recurrent CNN vertex model (Keras 3) and the bundled default weights."""
