"""Names of the samples the simulation makes (kept light: the CLI imports it to build its parser)."""

SAMPLES = ("numu-cc", "nue-cc", "nc", "nu-mix", "cosmics", "gun")
