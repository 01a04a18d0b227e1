// The WeCom chat-sidebar page (聊天工具栏): prepared replies for the current group, sent with
// one tap. Inside WeCom the JS-SDK gives the current group (getCurExternalChat) and sends
// into it (sendChatMessage); both need the page registered as the app's sidebar and
// wx.agentConfig done first (docs/community-assistant.md). In a plain browser the page offers
// 复制 (copy, then mark as sent by hand) and, while the WeCom sandbox is in use, 模拟发送.
(function () {
  'use strict';
  const replies = JSON.parse(document.getElementById('sidebar-replies').textContent);
  const config = JSON.parse(document.getElementById('sidebar-config').textContent);
  const csrf = document.querySelector('meta[name=csrf-token]').content;
  const list = document.getElementById('replies');
  const SDK = 'https://open.work.weixin.qq.com/wwopen/js/jwxwork-1.0.0.js';
  const wecomBrowser = /wxwork/i.test(navigator.userAgent);
  let inWecom = false; // true once wx.agentConfig succeeded

  function toast(text) {
    const box = document.getElementById('toast');
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.hidden = true; }, 2500);
  }

  async function markSent(reply, via) {
    const response = await fetch('/api/v1/community/assistant/replies/' + reply.id + '/sent', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf },
      body: JSON.stringify({ via: via }),
      credentials: 'same-origin',
    });
    const data = await response.json().catch(function () { return {}; });
    if (!response.ok) { toast(data.message || '网络异常，请重试'); return; }
    const card = list.querySelector('[data-reply-id="' + reply.id + '"]');
    card.classList.add('sent');
    card.querySelector('.sb-status').textContent = '已发送';
    card.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
    toast('已发送');
  }

  function sendInWecom(reply) {
    window.wx.invoke('sendChatMessage', { msgtype: 'text', enterChat: false, text: { content: reply.content } }, function (res) {
      if (res.err_msg === 'sendChatMessage:ok') { markSent(reply, 'wecom'); } else { toast('发送未完成：' + res.err_msg); }
    });
  }

  async function copy(reply) {
    try { await navigator.clipboard.writeText(reply.content); toast('已复制，请粘贴到群里发送'); } catch (e) { toast('无法复制，请长按文字复制'); }
  }

  function button(label, testid, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.dataset.testid = testid;
    b.addEventListener('click', onClick);
    return b;
  }

  function render() {
    list.textContent = '';
    document.getElementById('empty').hidden = replies.length > 0;
    replies.forEach(function (reply) {
      const card = document.createElement('article');
      card.className = 'sb-card';
      card.dataset.replyId = reply.id;
      card.dataset.testid = 'sidebar-reply';
      const meta = document.createElement('div');
      meta.className = 'sb-meta';
      meta.textContent = (reply.rule_name || (reply.source === 'draw' ? '抽奖公告' : reply.source)) + ' · ' + reply.chat_id + ' · ';
      const status = document.createElement('span');
      status.className = 'sb-status';
      status.dataset.testid = 'reply-status';
      status.textContent = reply.status_label;
      meta.appendChild(status);
      const text = document.createElement('p');
      text.className = 'sb-text';
      text.textContent = reply.content;
      const actions = document.createElement('div');
      actions.className = 'sb-actions';
      if (inWecom) {
        actions.appendChild(button('发送到群', 'send-wecom', function () { sendInWecom(reply); }));
      } else {
        actions.appendChild(button('复制', 'copy', function () { copy(reply); }));
        actions.appendChild(button('已手动发送', 'mark-sent', function () { markSent(reply, 'copy'); }));
        if (config.sandbox) { actions.appendChild(button('模拟发送', 'sandbox-send', function () { markSent(reply, 'sandbox'); })); }
      }
      card.append(meta, text, actions);
      list.appendChild(card);
    });
  }

  function currentChat() {
    // The group the sidebar was opened from: show only its replies.
    window.wx.invoke('getCurExternalChat', {}, function (res) {
      if (res.err_msg === 'getCurExternalChat:ok' && res.chatId && res.chatId !== config.chat_id) {
        location.replace('/console/community/sidebar/?chat_id=' + encodeURIComponent(res.chatId));
      }
    });
  }

  async function agentConfig() {
    const page = location.href.split('#')[0];
    const response = await fetch('/api/v1/community/sidebar/agent-config?url=' + encodeURIComponent(page), { credentials: 'same-origin' });
    const data = await response.json().catch(function () { return {}; });
    if (!response.ok) { toast(data.message || '企业微信授权失败，请用复制发送'); return; }
    window.wx.agentConfig({
      corpid: data.corpid, agentid: data.agentid, timestamp: data.timestamp, nonceStr: data.nonceStr,
      signature: data.signature, jsApiList: data.jsApiList,
      success: function () {
        inWecom = true;
        document.querySelector('[data-testid=sidebar-env]').textContent = '企业微信';
        render();
        currentChat();
      },
      fail: function (res) { toast('企业微信授权失败：' + (res.errMsg || res.err_msg || '')); },
    });
  }

  if (wecomBrowser) {
    // Inside WeCom: load the JS-SDK, then wx.agentConfig; until it succeeds the page offers copy.
    const script = document.createElement('script');
    script.src = SDK;
    script.onload = function () { agentConfig(); };
    script.onerror = function () { toast('企业微信 JS-SDK 加载失败，请用复制发送'); };
    document.head.appendChild(script);
  } else if (config.sandbox) {
    document.querySelector('[data-testid=sidebar-env]').textContent = '浏览器 · 沙箱';
  }
  render();
}());
