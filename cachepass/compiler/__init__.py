"""Method-neutral graph work: capture, regions and symbolic sizes, attention discovery, block stacks, graph editing, lower."""
