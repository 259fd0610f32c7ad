// The operator's API key: pasted once into the page, kept in this browser's localStorage, sent as
// "Authorization: Bearer" on every API call. The server never writes a key into the page.
const KEY_STORAGE = "vodstack-api-key";

export const storedKey = () => localStorage.getItem(KEY_STORAGE) || "";

export function saveKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key.trim());
  else localStorage.removeItem(KEY_STORAGE);
}

export const authHeaders = () => (storedKey() ? { Authorization: `Bearer ${storedKey()}` } : {});
