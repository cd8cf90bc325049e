"""Messages of the audit integrity page (also used by the overview's integrity panel)."""

ZH = {
    "audit.title": "审计完整性",
    "audit.entries": "日志条目",
    "audit.checkpoints": "签名检查点",
    "audit.no_ca": "找不到平台 CA 证书：检查点签名无法核验。",
    "audit.explain": (
        "每个检查点核验：签名（平台 CA 签发给本平台的证书）、日志在该大小时的树根是否与签名一致、"
        "与下一个检查点（最新的与当前日志）之间的一致性证明。"
    ),
    "audit.checked_at": "核验时间 {time}。",
    "audit.tree_size": "树大小",
    "audit.signed_at": "签署时间 / 签署者",
    "audit.root_hash": "根哈希",
    "audit.signature": "签名",
    "audit.root": "树根",
    "audit.consistency": "一致性",
    "audit.state": "结论",
    "audit.state.ok": "通过",
    "audit.state.failed": "未通过",
    "audit.state.none": "无检查点",
    "audit.check.ok": "通过",
    "audit.check.failed": "失败",
    "audit.vs_checkpoint": "对照检查点 {size}",
    "audit.vs_log": "对照当前日志 {size}",
    "audit.no_checkpoint": "尚无签名检查点（日志共 {entries} 条）：条目只受自身叶哈希保护。",
    "audit.problem.signature": "签名无法核验，或记录与签名内容不符。",
    "audit.problem.shorter": "日志比检查点短：有条目被删除。",
    "audit.problem.unreadable": "无法从日志计算证明：存储的哈希已损坏。",
    "audit.problem.root": "日志在该大小时的树根与签名不符：条目被改动、删除或重排。",
    "audit.problem.consistency": "与后续检查点或当前日志不一致：日志被改写。",
    "audit.newest": "最新",
    "audit.older": "较早",
    "audit.full": "完整核验",
    "audit.full_explain": (
        "逐条重算每个条目的叶哈希、核验全部检查点（与 exchange audit verify 相同）。"
        "日志超过 {limit} 条时请在服务器上执行 exchange audit verify。"
    ),
    "audit.full_run": "立即完整核验",
    "audit.full_ok": "核验通过：{entries} 个条目，{checkpoints} 个签名检查点。",
    "audit.full_failed": "核验未通过：",
    "audit.more_problems": "另有 {count} 个问题未列出。",
    "audit.note": "说明",
    "audit.full_too_large": "日志超过 {limit} 条，控制台不做完整核验：请执行 exchange audit verify。",
    "audit.full_busy": "已有一次完整核验正在进行，请稍后再试。",
}

EN = {
    "audit.title": "Audit integrity",
    "audit.entries": "Log entries",
    "audit.checkpoints": "Signed checkpoints",
    "audit.no_ca": "No hub CA certificate: checkpoint signatures cannot be verified.",
    "audit.explain": (
        "Each checkpoint is checked for its signature (the hub's certificate from the hub CA), whether the "
        "log's "
        "tree at that size still has the signed root, and a consistency proof to the next checkpoint (the "
        "newest: "
        "to the current log)."
    ),
    "audit.checked_at": "Checked at {time}.",
    "audit.tree_size": "Tree size",
    "audit.signed_at": "Signed at / by",
    "audit.root_hash": "Root hash",
    "audit.signature": "Signature",
    "audit.root": "Root",
    "audit.consistency": "Consistency",
    "audit.state": "Verdict",
    "audit.state.ok": "verified",
    "audit.state.failed": "FAILED",
    "audit.state.none": "no checkpoint",
    "audit.check.ok": "ok",
    "audit.check.failed": "failed",
    "audit.vs_checkpoint": "against checkpoint {size}",
    "audit.vs_log": "against the current log ({size})",
    "audit.no_checkpoint": (
        "No signed checkpoint yet ({entries} entries): the entries are protected only by their own leaf "
        "hashes."
    ),
    "audit.problem.signature": "The signature does not verify, or the row differs from what was signed.",
    "audit.problem.shorter": "The log is shorter than the checkpoint: entries were removed.",
    "audit.problem.unreadable": "No proof can be computed from the log: stored hashes are damaged.",
    "audit.problem.root": "The log's tree at this size does not have the signed root: entries were changed, "
    "removed or reordered.",
    "audit.problem.consistency": (
        "Not consistent with the next checkpoint or the current log: the log was rewritten."
    ),
    "audit.newest": "Newest",
    "audit.older": "Older",
    "audit.full": "Full verification",
    "audit.full_explain": (
        "Recomputes every entry's leaf from its fields and checks every checkpoint (as exchange audit verify "
        "does). For logs of more than {limit} entries run exchange audit verify on the server."
    ),
    "audit.full_run": "Verify everything now",
    "audit.full_ok": "Verified: {entries} entries, {checkpoints} signed checkpoints.",
    "audit.full_failed": "Does not verify:",
    "audit.more_problems": "{count} more problems not listed.",
    "audit.note": "Note",
    "audit.full_too_large": (
        "The log holds more than {limit} entries: run exchange audit verify on the server."
    ),
    "audit.full_busy": "A full verification is already running; try again shortly.",
}
