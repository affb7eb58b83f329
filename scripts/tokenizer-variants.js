#!/usr/bin/env node
// tokenizer-variants.js: differential check of the tokenizer components the
// eight real test files do not use (Metaspace, Digits, Whitespace,
// WhitespaceSplit, Punctuation, every Split behaviour and invert, a regex that
// is not hand-matched (PCRE2 path), NFKD/NFKC/NFD, Lowercase, Strip,
// StripAccents, Replace with a regex, RobertaProcessing, BertNormalizer
// options, ByteLevel with add_prefix_space + use_regex). Each variant is a
// real tokenizer.json with one component swapped; kvidx and the reference
// (tests/tokenizer/oracle) encode the corpus (handwritten + random) with
// special tokens and every differing text is reported.
//
//   scripts/tokenizer-variants.js [--build DIR] [variant...]
//
// Needs scripts/fetch-tokenizers.sh run first. Exit status 1 on differences.
// Known: replace_regex differs on 3 texts (\d is PCRE2's Unicode 14 class,
// Oniguruma's is Unicode 16; see docs/tokenizer.md).
const path=require('path'); const fs=require('fs'); const cp=require('child_process'); const os=require('os');
const SRC=path.resolve(__dirname,'..');
const {Tokenizer}=require(path.join(SRC,'tests/tokenizer/oracle/node_modules/@anush008/tokenizers'));
const C=path.join(SRC,'tests/tokenizer/data/cache')+'/';
let args=process.argv.slice(2), build=path.join(SRC,'build');
if (args[0]==='--build') { build=path.resolve(args[1]); args=args.slice(2); }
const KVIDX=path.join(build,'kvidx');
const TMP=fs.mkdtempSync(path.join(os.tmpdir(),'kvidx-variants-'));
const lines=[]; for (const f of ['handwritten','random']) for (const l of fs.readFileSync(path.join(SRC,'tests/tokenizer/corpus',f+'.jsonl'),'utf8').split('\n')) if(l.trim()) lines.push(JSON.parse(l).text);
const BL={type:'ByteLevel',add_prefix_space:false,trim_offsets:false,use_regex:false};
const split=(re,beh,inv)=>({type:'Split',pattern:{Regex:re},behavior:beh,invert:inv});
const V={
 bl_regex_prefix:['qwen3',t=>{t.pre_tokenizer={type:'ByteLevel',add_prefix_space:true,trim_offsets:true,use_regex:true};}],
 wsplit_digits_punct:['qwen3',t=>{t.pre_tokenizer={type:'Sequence',pretokenizers:[{type:'WhitespaceSplit'},{type:'Digits',individual_digits:true},{type:'Punctuation',behavior:'Isolated'},BL]};}],
 whitespace_digits:['qwen3',t=>{t.pre_tokenizer={type:'Sequence',pretokenizers:[{type:'Whitespace'},{type:'Digits',individual_digits:false},BL]};}],
 punct_contig:['qwen3',t=>{t.pre_tokenizer={type:'Sequence',pretokenizers:[{type:'Punctuation',behavior:'Contiguous'},BL]};}],
 split_removed:['qwen3',t=>{t.pre_tokenizer={type:'Sequence',pretokenizers:[split('\\s+','Removed',false),BL]};}],
 split_prev:['qwen3',t=>{t.pre_tokenizer={type:'Sequence',pretokenizers:[split('\\s+','MergedWithPrevious',false),BL]};}],
 split_next:['qwen3',t=>{t.pre_tokenizer={type:'Sequence',pretokenizers:[split('\\s','MergedWithNext',false),BL]};}],
 split_contig_inv:['qwen3',t=>{t.pre_tokenizer={type:'Sequence',pretokenizers:[split('\\p{L}','Contiguous',true),BL]};}],
 split_string:['qwen3',t=>{t.pre_tokenizer={type:'Sequence',pretokenizers:[{type:'Split',pattern:{String:'a'},behavior:'MergedWithNext',invert:false},BL]};}],
 split_pcre_generic:['qwen3',t=>{t.pre_tokenizer={type:'Sequence',pretokenizers:[split("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,2}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",'Isolated',false),BL]};}],
 nfkd:['qwen3',t=>{t.normalizer={type:'NFKD'};}],
 nfkc_lower_strip:['qwen3',t=>{t.normalizer={type:'Sequence',normalizers:[{type:'NFKC'},{type:'Lowercase'},{type:'Strip',strip_left:true,strip_right:true}]};}],
 nfd_stripacc:['qwen3',t=>{t.normalizer={type:'Sequence',normalizers:[{type:'NFD'},{type:'StripAccents'}]};}],
 replace_regex:['qwen3',t=>{t.normalizer={type:'Replace',pattern:{Regex:'\\d+'},content:'#'};}],
 meta_always:['llama2',t=>{t.normalizer=null;t.pre_tokenizer={type:'Metaspace',replacement:'▁',prepend_scheme:'always',split:true};}],
 meta_first:['llama2',t=>{t.normalizer=null;t.pre_tokenizer={type:'Metaspace',replacement:'▁',prepend_scheme:'first',split:true};}],
 meta_never_nosplit:['llama2',t=>{t.normalizer=null;t.pre_tokenizer={type:'Metaspace',replacement:'▁',prepend_scheme:'never',split:false};}],
 bert_roberta:['bert',t=>{t.normalizer={type:'Sequence',normalizers:[{type:'NFKC'},{type:'Lowercase'}]};t.pre_tokenizer={type:'Sequence',pretokenizers:[{type:'Whitespace'},{type:'Digits',individual_digits:true}]};t.post_processor={type:'RobertaProcessing',sep:['[SEP]',102],cls:['[CLS]',101],trim_offsets:true,add_prefix_space:false};}],
 bert_nochinese:['bert',t=>{t.normalizer={type:'BertNormalizer',clean_text:true,handle_chinese_chars:false,strip_accents:false,lowercase:false};}],
};
(async()=>{
 const only=args; let total=0;
 for (const [name,[base,f]] of Object.entries(V)) {
  if (only.length && !only.includes(name)) continue;
  const t=JSON.parse(fs.readFileSync(C+base+'/tokenizer.json','utf8')); f(t);
  const d=path.join(TMP,name); fs.mkdirSync(d,{recursive:true}); const p=path.join(d,'tokenizer.json'); fs.writeFileSync(p,JSON.stringify(t));
  let ref; try { ref=Tokenizer.fromFile(p);} catch(e){ console.log(name,'reference cannot load:',e.message); continue; }
  let out; try { out=cp.execFileSync(KVIDX,['tokenize','--tokenizer',p,'--jsonl'],{input:lines.map(x=>JSON.stringify({text:x})).join('\n')+'\n',maxBuffer:1<<28}).toString().trim().split('\n'); } catch(e) { console.log(name,'kvidx failed', e.stderr.toString()); continue; }
  let bad=0, shown=0;
  for (let i=0;i<lines.length;i++){ const e=await ref.encode(lines[i],null,{addSpecialTokens:true}); const w=JSON.stringify(Array.from(e.getIds())); const g=JSON.stringify(JSON.parse(out[i]).ids);
   if (w!==g){ bad++; if (shown++<2){ const W=JSON.parse(w),G=JSON.parse(g); let k=0; while(W[k]===G[k])k++; console.log('  ',name,JSON.stringify(lines[i]).slice(0,100),'at',k,'want',JSON.stringify(W.slice(k,k+5)),e.getTokens().slice(k,k+5),'got',JSON.stringify(G.slice(k,k+5))); } } }
  console.log(name, bad? 'DIFF':'OK', bad+'/'+lines.length); total+=bad;
 }
 fs.rmSync(TMP,{recursive:true,force:true});
 process.exit(total?1:0);
})();
