// The form editor's properties panel in Chinese. form-js 1.23 has no ``translate`` service (bpmn-io/form-js#77 is
// open; bpmn-js has one, see bpmn-zh.js): its panel's labels, group names and descriptions are fixed English. On a
// Chinese page this module replaces them as the panel draws them, text node by text node (preact keeps and updates
// the nodes), with the texts a CareFlow designer meets for the field types the engine supports (form-palette.js).
// A text not listed stays English; an English page keeps form-js's own texts.
const ZH = {
  // groups
  General: '常规', Condition: '条件', Layout: '布局', Appearance: '外观', Validation: '校验', Constraints: '约束',
  Serialization: '序列化', Options: '选项', 'Options source': '选项来源', 'Static options': '静态选项',
  'Dynamic options': '动态选项', 'Custom properties': '自定义属性', Security: '安全', 'Security attributes': '安全属性',
  // entries
  'Field label': '字段标签', 'Group label': '分组标题', Label: '标签', Key: '键', 'Binds to a form variable': '对应表单变量名',
  'Field description': '字段说明', 'Default value': '默认值', Disabled: '禁用', 'Read only': '只读', Required: '必填',
  'Hide if': '隐藏条件', 'Condition under which the field is hidden': '满足此条件时隐藏字段',
  'Deactivate if': '停用条件', 'Condition under which the field is deactivated': '满足此条件时停用字段',
  Columns: '列宽', Auto: '自动', Text: '文本', Content: '内容', Height: '高度', 'Height of the container in pixels.': '容器高度（像素）。',
  Prefix: '前缀', Suffix: '后缀', 'Decimal digits': '小数位数', Increment: '步长', 'Output as string': '以字符串输出',
  'Allows arbitrary precision values': '允许任意精度的数值', Minimum: '最小值', Maximum: '最大值',
  'Minimum length': '最小长度', 'Maximum length': '最大长度', 'Validation pattern': '校验格式',
  'Custom regular expression': '自定义正则表达式', 'Custom error message': '自定义错误提示', Custom: '自定义',
  Email: '电子邮件', Phone: '电话', Subtype: '类型', 'Date label': '日期标签', 'Time label': '时间标签',
  'Use 24h': '24 小时制', 'Time interval': '时间间隔', 'Time format': '时间格式', 'Disallow past dates': '不允许过去的日期',
  Searchable: '可搜索', Value: '值', 'Show outline': '显示边框', 'Vertical alignment': '垂直对齐', Top: '顶部',
  Center: '居中', Bottom: '底部', Path: '路径', 'Where the child variables of this component are pathed to.':
    '此组件下各变量的存放路径。', 'Input values key': '输入值的键',
  'Define which input property to populate the values from': '从哪个输入属性取选项值',
  'Options expression': '选项表达式', 'Define an expression to populate the options from.': '用表达式生成选项。',
  Checked: '已勾选', 'Not checked': '未勾选', Title: '标题', '<none>': '（无）', '<empty>': '（空）',
  // the panel's own controls (titles)
  'Toggle section': '展开或收起', 'Section contains edits': '此部分有修改', 'Section contains an error': '此部分有错误',
  'Create new list item': '新建列表项', 'Delete item': '删除此项', 'Toggle list item': '展开或收起此项', Create: '新建',
  'Open pop-up editor': '在弹出编辑器中打开', 'Remove form field': '删除字段',
  // the messages of its own checks
  'Must not be empty.': '不能为空。', 'Must be unique.': '必须唯一。', 'Must not contain spaces.': '不能包含空格。',
  'Must be a variable or a dot separated path.': '必须是变量名或以点分隔的路径。', 'Should be a valid number.': '必须是有效数字。',
  'Should be an integer.': '必须是整数。', 'Should be greater than zero.': '必须大于零。',
  'Should be greater than or equal to zero.': '必须大于或等于零。',
};

const ATTRIBUTES = ['title', 'placeholder', 'aria-label'];

/** Translate the texts of the form editor's properties panel under ``container``, now and whenever it redraws. */
export function translateFormEditor(container) {
  const apply = () => {
    for (const panel of container.querySelectorAll('.fjs-properties-container, .fjs-context-pad')) {
      const walker = document.createTreeWalker(panel, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.nodeValue.trim();
        if (text && ZH[text] && !node.parentElement.closest('input, textarea, [contenteditable]')) {
          node.nodeValue = node.nodeValue.replace(text, ZH[text]);
        }
      }
      for (const element of panel.querySelectorAll(ATTRIBUTES.map((a) => `[${a}]`).join(','))) {
        for (const attribute of ATTRIBUTES) {
          const value = element.getAttribute(attribute);
          if (value && ZH[value]) element.setAttribute(attribute, ZH[value]);
        }
      }
    }
  };
  new MutationObserver(apply).observe(container, { childList: true, subtree: true, characterData: true });
  apply();
}
