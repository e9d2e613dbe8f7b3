"""Raw data: the contract and its validation, the demo generator, primary tables, time splits."""
