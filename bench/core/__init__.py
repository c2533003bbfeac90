"""The program: the models, the sampling loop, the generate -> decode -> score pipeline, its
single/pmap/sharded runners, batching, devices and multi-process set-up."""
