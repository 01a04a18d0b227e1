// The buyer's address book at checkout (H5 shop and the live room's checkout sheet), with its
// markup in web/h5/shop/_address_book.html. A page mixes it into its Alpine component:
//   x-data="withAddressBook(checkout())"
// then calls bookLoad() once the buyer is known and, when placing the order,
//   Object.assign(body, await this.bookForOrder())   // → { address_id }
// A first-time buyer gets the add form inline; bookForOrder() saves it first.
(function () {
  const API = '/api/v1/shop';
  const EMPTY = { name: '', phone: '', province: '', city: '', district: '', detail: '', label: '', is_default: true };
  const regionCache = {};
  // The WeChat JS-SDK, vendored (scripts/copy_assets.py); its path comes from the script tag.
  const JSSDK_SRC = (document.currentScript && document.currentScript.dataset.jssdk) || '';
  let wechatReady = null;

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = src; script.onload = resolve; script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  // wx.openAddress works only after wx.config with a signature of this page's address, made by
  // the server from the official account's jsapi_ticket. Configured once per page; a failure
  // lets the next tap try again.
  function wechatConfigured() {
    if (!wechatReady) {
      wechatReady = (async () => {
        if (!window.wx && JSSDK_SRC) await loadScript(JSSDK_SRC);
        const url = location.href.split('#')[0];
        const signed = await api('GET', '/api/v1/auth/wechat/js-config?url=' + encodeURIComponent(url));
        await new Promise((resolve, reject) => {
          wx.config({ debug: false, appId: signed.app_id, timestamp: signed.timestamp, nonceStr: signed.nonce_str, signature: signed.signature, jsApiList: ['openAddress'] });
          wx.ready(resolve);
          wx.error(reject);
        });
      })();
      wechatReady.catch(() => { wechatReady = null; });
    }
    return wechatReady;
  }

  function regions(province, city) {
    const key = (province || '') + '|' + (city || '');
    if (!regionCache[key]) {
      const query = new URLSearchParams();
      if (province) query.set('province', province);
      if (city) query.set('city', city);
      regionCache[key] = api('GET', API + '/regions?' + query.toString()).then(r => r.names, () => { delete regionCache[key]; return []; });
    }
    return regionCache[key];
  }

  function prefill() {
    // A buyer who ordered before the book existed: their last order's address (H5 checkout),
    // or what the live room remembered on this device.
    try {
      const element = document.getElementById('saved-address');
      const saved = element ? JSON.parse(element.textContent || '{}') : JSON.parse(localStorage.getItem('fl_address') || '{}');
      return saved && typeof saved === 'object' ? saved : {};
    } catch (e) { return {}; }
  }

  window.addressBookMixin = function () {
    return {
      book: {
        loaded: false, items: [], chosenId: null, mode: 'card', editingId: null,
        form: Object.assign({}, EMPTY), paste: '', error: '', busy: false,
        provinces: [], cities: [], districts: [],
        inWechat: /MicroMessenger/i.test(navigator.userAgent),
      },

      async bookLoad() {
        if (this.book.inWechat) wechatConfigured().catch(() => {});
        try { this.book.items = await api('GET', API + '/addresses'); }
        catch (e) { this.book.error = e.message; return; }
        this.book.loaded = true;
        const chosen = this.book.items.find(a => a.id === this.book.chosenId) || this.book.items.find(a => a.is_default) || this.book.items[0];
        this.book.chosenId = chosen ? chosen.id : null;
        if (!chosen) { await this.bookOpenForm(null); await this.bookFill(prefill()); this.book.form.is_default = true; }
        else this.book.mode = 'card';
      },
      // What a price preview needs to charge shipping for where the goods go: the chosen
      // address, or the province being typed into the form.
      bookPricing() { return this.book.mode === 'card' && this.book.chosenId ? { address_id: this.book.chosenId } : { province: this.book.form.province || '' }; },
      bookChosen() { return this.book.items.find(a => a.id === this.book.chosenId) || null; },
      bookLine(a) { return [a.province, a.city === a.province ? '' : a.city, a.district, a.detail].filter(Boolean).join(' '); },
      bookOptions(level) {
        // The loaded names, plus the current value when it is not among them (an address from
        // WeChat or pasted text may name a place the bundled list spells differently).
        const names = this.book[level === 'province' ? 'provinces' : level === 'city' ? 'cities' : 'districts'];
        const value = this.book.form[level];
        return value && !names.includes(value) ? [value].concat(names) : names;
      },
      bookOpenList() { this.book.error = ''; this.book.mode = 'list'; },
      bookChoose(id) { this.book.chosenId = id; this.book.mode = 'card'; },
      async bookOpenForm(address) {
        this.book.error = ''; this.book.paste = '';
        this.book.editingId = address ? address.id : null;
        this.book.form = Object.assign({}, EMPTY, address ? { name: address.name, phone: address.phone, label: address.label, detail: address.detail, is_default: address.is_default } : { is_default: this.book.items.length === 0 });
        this.book.mode = 'form';
        if (!this.book.provinces.length) this.book.provinces = await regions();
        if (address) await this.bookFill({ province: address.province, city: address.city, district: address.district });
      },
      bookCancelForm() { this.book.error = ''; this.book.mode = this.book.items.length ? 'list' : 'form'; },
      async bookFill(values) {
        const form = this.book.form;
        ['name', 'phone', 'detail'].forEach((key) => { if (values[key]) form[key] = String(values[key]); });
        if (values.province) {
          form.province = values.province;
          this.book.cities = await regions(form.province);
          form.city = values.city || (this.book.cities.length === 1 ? this.book.cities[0] : '');
          this.book.districts = form.city ? await regions(form.province, form.city) : [];
          form.district = values.district || '';
        }
      },
      async bookProvinceChanged() {
        this.book.form.city = ''; this.book.form.district = ''; this.book.districts = [];
        this.book.cities = this.book.form.province ? await regions(this.book.form.province) : [];
        if (this.book.cities.length === 1) { this.book.form.city = this.book.cities[0]; await this.bookCityChanged(); }
      },
      async bookCityChanged() {
        this.book.form.district = '';
        this.book.districts = this.book.form.city ? await regions(this.book.form.province, this.book.form.city) : [];
      },
      async bookParse() {
        const text = this.book.paste.trim();
        if (!text) { this.book.error = '请先粘贴收货人、手机号和地址'; return; }
        this.book.error = '';
        try { await this.bookFill(await api('POST', API + '/addresses/parse', { text: text })); }
        catch (e) { this.book.error = e.message; }
      },
      async bookWechat() {
        if (!this.book.inWechat) { this.book.error = '请在微信中打开后使用微信地址'; return; }
        try { await wechatConfigured(); }
        catch (e) { this.book.error = '暂时连不上微信，请手动填写'; return; }
        wx.openAddress({
          success: (res) => this.bookFill({ name: res.userName, phone: res.telNumber, province: res.provinceName, city: res.cityName, district: res.countyName, detail: res.detailInfo }),
          fail: () => { this.book.error = '没能读取微信地址，请手动填写'; },
        });
      },
      async bookSave() {
        this.book.busy = true; this.book.error = '';
        const body = Object.assign({}, this.book.form);
        try {
          const saved = this.book.editingId
            ? await api('PUT', API + '/addresses/' + this.book.editingId, body)
            : await api('POST', API + '/addresses', body);
          this.book.chosenId = saved.id;
          await this.bookLoad();
          this.book.chosenId = saved.id;
          this.book.mode = 'card';
          return saved;
        } catch (e) { this.book.error = e.message; throw e; }
        finally { this.book.busy = false; }
      },
      async bookDelete(address) {
        if (!confirm('删除这个收货地址？')) return;
        try {
          await api('DELETE', API + '/addresses/' + address.id);
          if (this.book.chosenId === address.id) this.book.chosenId = null;
          await this.bookLoad();
          if (this.book.items.length) this.book.mode = 'list';
        } catch (e) { this.book.error = e.message; }
      },
      async bookMakeDefault(address) {
        try { await api('POST', API + '/addresses/' + address.id + '/default'); await this.bookLoad(); this.book.mode = 'list'; }
        catch (e) { this.book.error = e.message; }
      },
      // What the order request carries: the chosen saved address. A buyer still in the form
      // (their first address, or editing) has it saved first.
      async bookForOrder() {
        if (this.book.mode === 'form') await this.bookSave();
        if (!this.book.chosenId) throw new Error('请先填写收货地址');
        return { address_id: this.book.chosenId };
      },
    };
  };

  window.withAddressBook = function (data) { return Object.assign(data, window.addressBookMixin()); };
})();
