"""The store: the files every other layer reads and writes, free of torch. Cell and pack files (`cellfile`), the code
format (`bits`), atomic writes (`atomic`), a view's plan and each cell's state (`plan`, `cellstate`), and the
machine a number came from (`machine`). Above `params` only: every other layer may use it."""
