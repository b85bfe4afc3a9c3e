// bpmn-js and its properties panel in Chinese: bpmn-js passes every text it shows through its ``translate`` service
// (https://github.com/bpmn-io/bpmn-js-examples/tree/main/i18n); this module replaces it on Chinese pages with the
// texts a CareFlow designer meets (palette, context pad, panel groups and fields, element types). A text not listed
// stays English. English pages keep bpmn-js's own texts.
const ZH = {
  // palette and context pad
  'Activate hand tool': '抓手工具', 'Activate lasso tool': '套索工具', 'Activate create/remove space tool': '增删空间工具',
  'Activate global connect tool': '连线工具', 'Create start event': '开始事件', 'Create intermediate/boundary event': '中间/边界事件',
  'Create end event': '结束事件', 'Create gateway': '网关', 'Create task': '任务', 'Create expanded sub-process': '展开的子流程',
  'Create data object reference': '数据对象', 'Create data store reference': '数据存储', 'Create pool/participant': '池/参与者',
  'Create group': '分组', 'Append task': '追加任务', 'Append end event': '追加结束事件', 'Append gateway': '追加网关',
  'Append intermediate/boundary event': '追加中间/边界事件', 'Append text annotation': '追加文本注释',
  'Add text annotation': '添加文本注释', 'Change element': '更改元素类型', 'Delete': '删除',
  'Connect using sequence/message flow or association': '用顺序流/消息流或关联连接',
  'Connect to other element': '连接到其他元素', 'Connect using association': '用关联连接',
  'Connect using data input association': '用数据输入关联连接', 'Add lane above': '在上方添加泳道',
  'Add lane below': '在下方添加泳道', 'Divide into two lanes': '分成两条泳道', 'Divide into three lanes': '分成三条泳道',
  'Search in diagram': '在图中搜索',
  // properties panel
  General: '常规', Documentation: '文档', Name: '名称', ID: 'ID', 'Element documentation': '元素文档',
  'Process documentation': '流程文档', Executable: '可执行', 'Version tag': '版本标签', Process: '流程',
  'Process name': '流程名称', 'Process ID': '流程 ID', Condition: '条件', Timer: '定时器', Type: '类型', Value: '值',
  Message: '消息', Signal: '信号', Error: '错误', Escalation: '升级', Link: '链接', Compensation: '补偿',
  'Multi-instance': '多实例', Inputs: '输入', Outputs: '输出', 'Create new ...': '新建…', '<none>': '（无）',
  'Global message reference': '全局消息引用', 'Global signal reference': '全局信号引用', 'Global error reference': '全局错误引用',
  Duration: '时长', Date: '日期', Cycle: '周期', 'Loop cardinality': '循环次数', 'Completion condition': '完成条件',
  'Asynchronous continuations': '异步', 'Before': '之前', 'After': '之后', 'Implementation': '实现', 'Script': '脚本',
  Format: '格式', 'Called element': '被调用元素', 'Data object reference': '数据对象引用', Collection: '集合',
  // element types (the panel's header)
  Collaboration: '协作', Participant: '参与者', Lane: '泳道', 'Start Event': '开始事件', 'End Event': '结束事件',
  'Intermediate Throw Event': '中间抛出事件', 'Intermediate Catch Event': '中间捕获事件', 'Boundary Event': '边界事件',
  'Timer Start Event': '定时开始事件', 'Message Start Event': '消息开始事件', 'Timer Intermediate Catch Event': '定时中间事件',
  'Message Intermediate Catch Event': '消息中间事件', 'Timer Boundary Event': '定时边界事件',
  'Timer Boundary Event (Non Interrupting)': '定时边界事件（不中断）', 'Message Boundary Event': '消息边界事件',
  'Error Boundary Event': '错误边界事件', 'Error End Event': '错误结束事件', 'Terminate End Event': '终止结束事件',
  Task: '任务', 'User Task': '人工任务', 'Service Task': '服务任务', 'Script Task': '脚本任务',
  'Business Rule Task': '业务规则任务', 'Manual Task': '手工任务', 'Send Task': '发送任务', 'Receive Task': '接收任务',
  'Call Activity': '调用活动', 'Sub Process': '子流程', 'Exclusive Gateway': '排他网关', 'Parallel Gateway': '并行网关',
  'Inclusive Gateway': '包容网关', 'Event Based Gateway': '事件网关', 'Sequence Flow': '顺序流', 'Message Flow': '消息流',
  'Text Annotation': '文本注释', Group: '分组', 'Data Object Reference': '数据对象', 'Data Store Reference': '数据存储',
  // the problem list (bpmn-js-bpmnlint; the problems themselves come from the server in the page's language)
  '{errors} Errors, {warnings} Warnings': '{errors} 个错误，{warnings} 个警告', 'No Issues': '没有问题',
  'Toggle linting overlays': '显示或隐藏问题标记', 'Issues for child elements': '子元素的问题',
  // the properties panel's own controls
  'Toggle section': '展开或收起', 'Section contains edits': '此部分有修改', 'Section contains an error': '此部分有错误',
  'Open documentation': '打开文档', 'Create new list item': '新建列表项', 'Delete item': '删除此项',
  'Toggle list item': '展开或收起此项', Create: '新建', '<empty>': '（空）',
  // CareFlow's own group (careflow-properties.js)
  'CareFlow properties': 'CareFlow 流程属性', 'Form key': '表单', 'The form file forms/<key>.json': '表单文件 forms/<key>.json',
  'Candidate groups': '候选组', 'Comma-separated; the lane name when empty': '逗号分隔；为空时用泳道名',
  'Candidate users': '候选人', 'Comma-separated': '逗号分隔', Priority: '优先级', 'Due in (SLA)': '办理时限（SLA）',
  "An ISO 8601 duration from the task's creation: P2D is 2 days, PT4H 4 hours, P1DT12H a day and a half":
    'ISO 8601 时长，自任务创建时起算：P2D 为 2 天，PT4H 为 4 小时，P1DT12H 为一天半',
  'Due in working days (SLA)': '工作日办理时限（SLA）',
  'A whole number of working days (the bank calendar)': '工作日天数，整数（按银行工作日历）',
  Assignment: '分派', 'Queue (claim)': '队列认领', 'Round robin': '轮流', 'Least loaded': '最少负载',
  'By skills': '按技能', 'Required skills': '所需技能', 'For assignment by skills': '分派方式为按技能时使用',
  'Result variable': '结果变量', 'Timer ({kind})': '计时器（{kind}）',
  'An ISO 8601 literal (P2D, 2026-12-08T09:00:00+08:00, R3/PT10M) or a Python expression':
    'ISO 8601 值（P2D、2026-12-08T09:00:00+08:00、R3/PT10M）或 Python 表达式',
  'Script (Python)': '脚本（Python）', 'Condition (Python)': '条件（Python）',
};

function translate(template, replacements = {}) {
  const text = ZH[template] || template;
  return text.replace(/{([^}]+)}/g, (_, key) => (key in replacements ? replacements[key] : `{${key}}`));
}

export const zhTranslateModule = { translate: ['value', translate] };
