"""Readers: scenario folders (config.csv, gpu_pool.csv, network_bandwidth.csv, the older solver's keys), the GPU
catalog, bundled presets and solution files. Every error names the file, the row, the field and the fix."""
