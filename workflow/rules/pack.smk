rule plan:
    output:
        LAYOUT.plan("{view}"),
    log:
        LAYOUT.view_log("{view}", "plan"),
    localrule: True
    conda:
        "../envs/acthash.yaml"
    params:
        digest=plan_digest,
    # the work file is named by every view of the run: as a param it would rerun each view's plan (and its merge)
    # whenever another set of views runs, so it is written into the command instead
    shell:
        f"acthash plan --work {shlex.quote(WORK_FILE)} "
        "--view {wildcards.view:q} --out {output:q} 2> {log:q}"


# measure_on: pack (default) -- a pack's job trains its cells as one stacked model and measures them on its own
# device; cpu -- it trains them and hands its codes file to a measuring job on a CPU node (pack_measure)
TRAIN_ONLY = MEASURE_ON == "cpu"


rule pack:
    input:
        data=pack_dataset,
        plan=pack_plan,
    output:
        LAYOUT.pack_codes("{pack}") if TRAIN_ONLY else LAYOUT.pack_receipt("{pack}"),
    log:
        LAYOUT.pack_log("{pack}", "train" if TRAIN_ONLY else ""),
    benchmark:
        LAYOUT.pack_benchmark("{pack}.train" if TRAIN_ONLY else "{pack}")
    conda:
        "../envs/acthash.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=pack_resources("train" if TRAIN_ONLY else "all", "mem_mb"),
        runtime=pack_resources("train" if TRAIN_ONLY else "all", "runtime"),
    params:
        summary=pack_summary,
        cells=pack_hashes,
        root=DATA,
        results=results_root,
        state_every=STATE_EVERY,
        # a fixed flag, no value of the config (an empty one must not become an argument)
        train_only="--train-only" if TRAIN_ONLY else "",
        what="train" if TRAIN_ONLY else "train and measure",
    message:
        "pack {wildcards.pack}: {params.what} {params.summary}; asks {resources.runtime} min, "
        "{resources.mem_mb} MB; log {log}"
    shell:
        "acthash run-pack {params.train_only} --plan {input.plan:q} --pack {wildcards.pack:q} --cells {params.cells:q}"
        " --results {params.results:q} --data-root {params.root:q} --state-every-min {params.state_every:q}"
        " --threads {threads} 2> {log:q}"


if TRAIN_ONLY:

    rule pack_measure:
        input:
            data=pack_dataset,
            plan=pack_plan,
            codes=LAYOUT.pack_codes("{pack}"),
        output:
            LAYOUT.pack_receipt("{pack}"),
        log:
            LAYOUT.pack_log("{pack}", "measure"),
        benchmark:
            LAYOUT.pack_benchmark("{pack}.measure")
        conda:
            "../envs/acthash.yaml"
        threads: 2
        resources:
            mem_mb=pack_resources("measure", "mem_mb"),
            runtime=pack_resources("measure", "runtime"),
        params:
            cells=pack_hashes,
            root=DATA,
            results=results_root,
        message:
            "pack {wildcards.pack}: measure its cells on the CPU; asks {resources.runtime} min, "
            "{resources.mem_mb} MB; log {log}"
        shell:
            "acthash run-pack --device cpu --plan {input.plan:q} --pack {wildcards.pack:q} --cells {params.cells:q}"
            " --results {params.results:q} --data-root {params.root:q} --threads {threads} 2> {log:q}"


rule remeasure:
    input:
        LAYOUT.cell("{cell}"),
    output:
        LAYOUT.remeasure_receipt("{cell}"),
    log:
        LAYOUT.pack_log("{cell}", "remeasure"),
    conda:
        "../envs/acthash.yaml"
    threads: 2
    message:
        "cell {wildcards.cell}: measured before some metric existed; re-measure its stored codes; log {log}"
    shell:
        "acthash measure {input:q} --receipt {output:q} > {log:q} 2>&1"
