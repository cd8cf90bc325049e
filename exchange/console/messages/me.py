"""Messages of the citizen's page (who used my data)."""

ZH = {
    "me.title": "谁用了我的数据",
    "me.intro": "查看哪些审批系统在什么时间、为哪个事项、以什么用途使用了登记在您名下的政务数据。",
    "me.demo_banner_title": "演示身份认证（DEMO）",
    "me.demo_banner": "这是演示环境的身份认证：输入任何公民身份号码都能以该身份登录，不能证明您是谁。"
    "正式部署必须通过政务服务平台统一身份认证登录，绝不能启用此方式。",
    "me.citizen_id": "公民身份号码（18 位）",
    "me.sign_in": "登录（演示）",
    "me.sign_out": "退出",
    "me.signed_in_as": "当前查询的身份：{id}",
    "me.session_note": "登录状态保存 30 分钟。",
    "me.total": "共 {total} 条记录",
    "me.none": "没有任何系统使用过您的数据。",
    "me.time": "时间（北京时间）",
    "me.consumer": "使用系统",
    "me.department": "提供部门",
    "me.resource": "数据资源",
    "me.matter": "事项",
    "me.purpose": "用途",
    "me.outcome": "结果",
    "me.answered": "已提供",
    "me.refused": "已拒绝",
    "me.kind.query": "查询",
    "me.kind.verify": "核验",
    "me.kind.license": "电子证照",
    "me.oidc_title": "请通过政务服务平台登录",
    "me.oidc": "本平台的公民身份认证由政务服务平台统一身份认证（OpenID Connect）提供。"
    "请在政务服务平台登录后查看“谁用了我的数据”；此处不提供登录表单。",
    "me.unavailable": "身份认证暂不可用（平台尚未初始化）。请稍后再试。",
    "me.error.empty": "请输入公民身份号码。",
    "me.error.length": "公民身份号码应为 18 位。",
    "me.error.check_digit": "公民身份号码的校验码（第 18 位）不正确，请核对后重新输入。",
    "me.error.invalid": "这不是有效的公民身份号码（地址码或出生日期不正确），请核对后重新输入。",
    "me.error.expired": "页面已过期，请重试。",
}

EN = {
    "me.title": "Who used my data",
    "me.intro": "See which approval systems used the government data registered under your name, when, for "
    "which matter and purpose.",
    "me.demo_banner_title": "DEMO identity provider",
    "me.demo_banner": (
        "This is the demo sign-in: anyone can sign in as any citizen by typing an ID number; "
        "it proves nothing about who you are. A real deployment signs citizens in through the "
        "government portal and never enables this."
    ),
    "me.citizen_id": "Citizen ID number (18 characters)",
    "me.sign_in": "Sign in (demo)",
    "me.sign_out": "Sign out",
    "me.signed_in_as": "Showing the record of: {id}",
    "me.session_note": "You stay signed in for 30 minutes.",
    "me.total": "{total} entries",
    "me.none": "No system has used your data.",
    "me.time": "Time (China Standard Time)",
    "me.consumer": "System",
    "me.department": "Department",
    "me.resource": "Data resource",
    "me.matter": "Matter",
    "me.purpose": "Purpose",
    "me.outcome": "Outcome",
    "me.answered": "Answered",
    "me.refused": "Refused",
    "me.kind.query": "query",
    "me.kind.verify": "verification",
    "me.kind.license": "e-license",
    "me.oidc_title": "Sign in through the government portal",
    "me.oidc": "Citizens sign in to this hub through the government service portal's identity provider "
    "(OpenID Connect). Sign in there to see who used your data; there is no sign-in form here.",
    "me.unavailable": "Sign-in is not available yet (the hub is not initialised). Please try again later.",
    "me.error.empty": "Please type your citizen ID number.",
    "me.error.length": "A citizen ID number has 18 characters.",
    "me.error.check_digit": "The check character (the 18th) of this citizen ID number is wrong; please check "
    "the number and try again.",
    "me.error.invalid": (
        "This is not a valid citizen ID number (its area code or birth date is wrong); "
        "please check it and try again."
    ),
    "me.error.expired": "The page expired; please try again.",
}
