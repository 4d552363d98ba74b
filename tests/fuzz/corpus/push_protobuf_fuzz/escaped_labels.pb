
f
@{a="q\"uote\\ \n\t\x41\u00e9\U0001F600", b=`raw \ value`, _c=""}"
§ÐÁºline with Ã© and 	 tab