"""Messages of the overview, and the words every monitoring page shares (``monitoring.*``)."""

ZH = {
    "monitoring.scope_all": "显示全部交换记录。",
    "monitoring.scope_department": "仅显示本部门（{department}）资源的交换记录。",
    "monitoring.scope_consumer": "仅显示本系统（{client}）发出的请求。",
    "monitoring.consumer": "使用方系统",
    "monitoring.unknown_signer": "未知签名方",
    "monitoring.time": "时间",
    "monitoring.resource": "资源",
    "monitoring.subject": "数据主体",
    "monitoring.status": "状态",
    "overview.title": "总览",
    "overview.allowed": "允许",
    "overview.denied": "拒绝",
    "overview.chart_title": "近 {days} 天每日请求数（允许 / 拒绝）",
    "overview.requests": "近 {days} 天请求总数",
    "overview.allowed_total": "近 {days} 天允许",
    "overview.denied_total": "近 {days} 天拒绝",
    "overview.denial_rate": "拒绝率",
    "overview.integrity": "审计日志完整性",
    "overview.top_consumers": "请求最多的使用方（近 {days} 天）",
    "overview.requests_short": "请求数",
    "overview.no_requests": "这段时间没有请求。",
    "overview.recent_denials": "最近被拒绝的请求",
    "overview.all_denials": "在访问日志中查看全部被拒绝的请求",
    "overview.no_denials": "没有被拒绝的请求。",
    "overview.sync": "电子证照同步状态",
    "overview.department": "部门",
    "overview.sync_status": "最近一次同步",
    "overview.sync_started": "开始时间",
    "overview.sync_finished": "完成时间",
    "overview.sync_counts": "数量",
    "overview.sync.running": "进行中",
    "overview.sync.succeeded": "成功",
    "overview.sync.failed": "失败",
    "overview.count.read": "读取",
    "overview.count.created": "新增",
    "overview.count.superseded": "更新",
    "overview.count.revoked": "注销",
    "overview.count.quarantined": "隔离",
    "overview.count.unchanged": "未变",
    "overview.never_synced": "尚未同步。",
    "overview.latest_checkpoint": "最新签名检查点：树大小 {size}，签署于 {time}（中国标准时间）。",
    "overview.integrity_checked": (
        "检查时间 {time}；日志共 {entries} 条，其中 {unsigned} 条在最新检查点之后，尚未签名。"
    ),
    "overview.integrity_scope": (
        "本页只核验最新检查点：签名由平台 CA 签发给本平台的证书作出，且日志在该大小时的默克尔树根与签名一致、"
        "并一致地延伸到当前日志（RFC 9162 一致性证明）。逐条重算每个条目请在审计页面运行完整核验，"
        "或执行 exchange audit verify。"
    ),
    "overview.to_audit": "查看全部检查点",
}

EN = {
    "monitoring.scope_all": "Showing every exchange.",
    "monitoring.scope_department": "Showing only exchanges of your department's ({department}) resources.",
    "monitoring.scope_consumer": "Showing only requests sent by your system ({client}).",
    "monitoring.consumer": "Consumer system",
    "monitoring.unknown_signer": "unknown signer",
    "monitoring.time": "Time",
    "monitoring.resource": "Resource",
    "monitoring.subject": "Data subject",
    "monitoring.status": "Status",
    "overview.title": "Overview",
    "overview.allowed": "Allowed",
    "overview.denied": "Denied",
    "overview.chart_title": "Requests per day, last {days} days (allowed / denied)",
    "overview.requests": "Requests, last {days} days",
    "overview.allowed_total": "Allowed, last {days} days",
    "overview.denied_total": "Denied, last {days} days",
    "overview.denial_rate": "Denial rate",
    "overview.integrity": "Audit log integrity",
    "overview.top_consumers": "Top consumers (last {days} days)",
    "overview.requests_short": "Requests",
    "overview.no_requests": "No requests in this period.",
    "overview.recent_denials": "Latest denied requests",
    "overview.all_denials": "All denied requests in the access log",
    "overview.no_denials": "No denied requests.",
    "overview.sync": "E-license sync status",
    "overview.department": "Department",
    "overview.sync_status": "Latest sync",
    "overview.sync_started": "Started",
    "overview.sync_finished": "Finished",
    "overview.sync_counts": "Counts",
    "overview.sync.running": "running",
    "overview.sync.succeeded": "succeeded",
    "overview.sync.failed": "failed",
    "overview.count.read": "read",
    "overview.count.created": "created",
    "overview.count.superseded": "updated",
    "overview.count.revoked": "revoked",
    "overview.count.quarantined": "quarantined",
    "overview.count.unchanged": "unchanged",
    "overview.never_synced": "Never synced.",
    "overview.latest_checkpoint": (
        "Latest signed checkpoint: tree size {size}, signed at {time} (China Standard Time)."
    ),
    "overview.integrity_checked": (
        "Checked at {time}; the log holds {entries} entries, {unsigned} of them after the latest checkpoint "
        "and not signed yet."
    ),
    "overview.integrity_scope": (
        "This page checks the latest checkpoint only: its signature is by the hub's certificate from the "
        "hub CA, "
        "and the log's Merkle tree at that size has the signed root and extends consistently to the "
        "current log "
        "(RFC 9162 consistency proof). To recompute every entry, run the full verification on the audit page "
        "or exchange audit verify."
    ),
    "overview.to_audit": "All checkpoints",
}
